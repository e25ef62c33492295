// Mistral's error bodies in OpenAI's words, so the shared classifier reads
// them: {"object":"error","message":"...","type","param","code"} (code a
// number or a string), and the 422 validation form whose message is
// {"detail":[{"type","loc","msg","input"}]} (or the detail list bare).
import type { FetchLike } from '../types.ts'

type Obj = Record<string, any>

/** "body.messages.0.user.name: Extra inputs are not permitted; ..." */
function detailText(detail: unknown): string | undefined {
  if (!Array.isArray(detail)) return typeof detail === 'string' ? detail : undefined
  const parts = detail.map((d: Obj) => {
    const loc = Array.isArray(d?.loc) ? d.loc.join('.') : ''
    return `${loc ? `${loc}: ` : ''}${d?.msg ?? 'invalid'}`
  })
  return parts.length ? parts.join('; ') : undefined
}

/** The first parameter a validation error blames (without the leading "body"). */
function paramOf(detail: unknown): string | undefined {
  const loc = Array.isArray(detail) ? detail[0]?.loc : undefined
  return Array.isArray(loc) ? loc.filter((x: unknown) => x !== 'body').join('.') || undefined : undefined
}

/** An OpenAI error body for a Mistral one; undefined when the text is no Mistral error. */
export function toOpenAIError(text: string): Obj | undefined {
  try {
    return errorOf(JSON.parse(text))
  } catch {
    return undefined
  }
}

/** Mistral's parsed error body in OpenAI's shape (see toOpenAIError). */
export function errorOf(j: Obj): Obj | undefined {
  if (!j || typeof j !== 'object' || j.error) return undefined
  const m = j.message
  const detail = m && typeof m === 'object' ? m.detail : j.detail
  const message = typeof m === 'string' ? m : detailText(detail)
  if (!message) return undefined
  return {
    error: {
      message,
      type: typeof j.type === 'string' ? j.type : 'invalid_request_error',
      param: typeof j.param === 'string' ? j.param : (paramOf(detail) ?? null),
      code: j.code == null ? null : String(j.code),
    },
  }
}

/** A fetch whose failed responses carry OpenAI-shaped error bodies; everything else as it came. */
export function withOpenAIErrors(fetch: FetchLike): FetchLike {
  return async (input, init) => {
    const res = await fetch(input, init)
    if (res.ok) return res
    const text = await res.text().catch(() => '')
    const body = toOpenAIError(text)
    // Only what the classifier reads: the body's length and encoding headers no longer hold.
    const headers = new Headers({ 'content-type': 'application/json' })
    const retry = res.headers.get('retry-after')
    if (retry) headers.set('retry-after', retry)
    return new Response(body ? JSON.stringify(body) : text, { status: res.status, statusText: res.statusText, headers })
  }
}
