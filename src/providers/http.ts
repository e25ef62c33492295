// The HTTP steps every provider shares: POST a JSON request upstream and
// read a JSON answer, each failure classified the same way.
import { UpstreamError, fromFetchError, fromResponse } from './errors.ts'
import type { UpstreamCall } from './types.ts'

/**
 * POSTs `body` as JSON; resolves to a 2xx response, throws UpstreamError for
 * anything else. The client's request unchanged goes as the client wrote it.
 */
export async function postJson(call: UpstreamCall, url: string, headers: HeadersInit, body: unknown): Promise<Response> {
  if (call.backend.missingSecret) throw new UpstreamError('unavailable', `credentials not configured (set ${call.backend.missingSecret})`)
  let res: Response
  try {
    res = await call.fetch(url, { method: 'POST', headers, body: body === call.body && call.raw !== undefined ? call.raw : JSON.stringify(body), signal: call.signal })
  } catch (err) {
    throw fromFetchError(err, call.signal)
  }
  if (!res.ok) throw await fromResponse(res, call.backend.apiKey)
  return res
}

/** True when the upstream answered a stream request with an event stream. */
export const isEventStream = (res: Response) => (res.headers.get('content-type') ?? '').includes('text/event-stream') && res.body !== null

/**
 * Reads a 2xx body that must be a JSON object. `isError` recognises the
 * protocol's error body sent with a 2xx status, which is classified like
 * any other upstream error.
 */
export async function readJsonObject(call: UpstreamCall, res: Response, isError: (o: Record<string, unknown>) => boolean): Promise<{ raw: string; body: Record<string, unknown> }> {
  let raw: string
  try {
    raw = await res.text()
  } catch (err) {
    throw fromFetchError(err, call.signal)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    throw new UpstreamError('bad_response', /^\s*</.test(raw) ? 'HTML instead of JSON' : 'malformed JSON', res.status)
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UpstreamError('bad_response', 'not a JSON object', res.status)
  const body = parsed as Record<string, unknown>
  if (isError(body)) throw await fromResponse(new Response(raw, { status: 502 }), call.backend.apiKey)
  return { raw, body }
}
