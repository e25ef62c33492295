// Reads a JSON request body within the configured size limit, without
// holding more than the limit in memory even when no length is declared.
import { GatewayError, badRequest } from './errors.ts'

const tooLarge = (max: number) =>
  new GatewayError(413, `Request body is larger than the gateway's limit of ${max} bytes`, 'invalid_request_error', 'request_too_large')

/**
 * Deeper than any real request (a JSON schema in a tool is a dozen levels), and shallow
 * enough that nothing walking a body recursively (JSON.stringify, a translator) can run
 * out of stack: such a body could never be forwarded, and is the client's mistake.
 */
export const MAX_JSON_DEPTH = 128

/** True when `v` nests objects and arrays more than `max` levels deep. Visits containers only: long strings cost nothing. */
export function tooDeep(v: unknown, max = MAX_JSON_DEPTH): boolean {
  if (typeof v !== 'object' || v === null) return false
  if (max <= 0) return true
  if (Array.isArray(v)) {
    for (const x of v) if (typeof x === 'object' && x !== null && tooDeep(x, max - 1)) return true
    return false
  }
  const o = v as Record<string, unknown>
  for (const k in o) {
    const x = o[k]
    if (typeof x === 'object' && x !== null && tooDeep(x, max - 1)) return true
  }
  return false
}

const tooDeepError = () => badRequest(`The JSON body is nested more than ${MAX_JSON_DEPTH} levels deep; no model API accepts that.`, null, 'invalid_json')

export async function readJsonBody(req: Request, max: number): Promise<unknown> {
  return (await readJson(req, max)).value
}

/** The body's text and its parsed value: the text can go upstream as it came when nothing changes it. */
export async function readJson(req: Request, max: number): Promise<{ text: string; value: unknown }> {
  const declared = Number(req.headers.get('content-length') ?? NaN)
  if (declared > max) throw tooLarge(max)
  let text: string
  if (Number.isFinite(declared)) {
    text = await req.text()
    if (text.length > max) throw tooLarge(max)
  } else {
    text = new TextDecoder().decode(await readLimited(req, max))
  }
  // /\S/ rather than trim(): trim copies the whole body when it has nothing to trim.
  if (!/\S/.test(text)) throw badRequest('The request body is empty; send a JSON object.', null, 'invalid_json')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw badRequest('We could not parse the JSON body of your request. Send valid JSON with Content-Type: application/json.', null, 'invalid_json')
  }
  if (tooDeep(value)) throw tooDeepError()
  return { text, value }
}

/** The raw body, within the limit (for pass-through routes). */
export async function readBodyBytes(req: Request, max: number): Promise<ArrayBuffer> {
  const declared = Number(req.headers.get('content-length') ?? NaN)
  if (declared > max) throw tooLarge(max)
  const bytes = await readLimited(req, max)
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
}

async function readLimited(req: Request, max: number): Promise<Uint8Array> {
  if (!req.body) return new Uint8Array()
  const reader = req.body.getReader()
  const parts: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > max) {
      reader.cancel().catch(() => {})
      throw tooLarge(max)
    }
    parts.push(value)
  }
  const all = new Uint8Array(size)
  let off = 0
  for (const p of parts) all.set(p, (off += p.byteLength) - p.byteLength)
  return all
}
