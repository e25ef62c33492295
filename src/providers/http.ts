// The HTTP steps every provider shares: POST a JSON request upstream and
// read a JSON answer, each failure classified the same way.
import { UpstreamError, fromFetchError, fromResponse } from './errors.ts'
import { bodyOf, type UpstreamCall } from './types.ts'

/**
 * POSTs `body` as JSON; resolves to a 2xx response, throws UpstreamError for
 * anything else. The client's request unchanged goes as the client wrote it.
 */
export async function postJson(call: UpstreamCall, url: string, headers: HeadersInit, body: unknown): Promise<Response> {
  if (call.backend.missingSecret) throw new UpstreamError('unavailable', `credentials not configured (set ${call.backend.missingSecret})`)
  let payload: string
  try {
    payload = body === call.body && call.raw !== undefined ? call.raw : JSON.stringify(body)
  } catch (err) {
    // Nothing was sent: the request itself cannot be written out, which is no fault of the backend's.
    throw new UpstreamError('bad_request', `The request cannot be forwarded: ${err instanceof Error ? err.message : String(err)}`)
  }
  let res: Response
  try {
    res = await call.fetch(url, { method: 'POST', headers, body: payload, signal: call.signal })
  } catch (err) {
    throw fromFetchError(err, call.signal)
  }
  if (!res.ok) throw await fromResponse(res, call.backend.apiKey)
  return res
}

/** True when the upstream answered a stream request with an event stream (its body not made a Web stream for this). */
export const isEventStream = (res: Response) => (res.headers.get('content-type') ?? '').includes('text/event-stream') && bodyOf(res) !== null

const utf8 = new TextDecoder()

/** The body's bytes: as they came where the runtime's Response has bytes(), else a copy. */
const bytesOf = (res: Response): Promise<Uint8Array<ArrayBuffer>> =>
  typeof (res as { bytes?: unknown }).bytes === 'function' ? (res as Response & { bytes(): Promise<Uint8Array<ArrayBuffer>> }).bytes() : res.arrayBuffer().then((b) => new Uint8Array(b))

/**
 * Reads a 2xx body that must be a JSON object. `isError` recognises the
 * protocol's error body sent with a 2xx status, which is classified like
 * any other upstream error. `raw` is the body's bytes, to send on as they
 * came: a string would be encoded again on the way out, and joined to the
 * response head first.
 */
export async function readJsonObject(call: UpstreamCall, res: Response, isError: (o: Record<string, unknown>) => boolean): Promise<{ raw: Uint8Array<ArrayBuffer>; body: Record<string, unknown> }> {
  let raw: Uint8Array<ArrayBuffer>
  try {
    raw = await bytesOf(res)
  } catch (err) {
    throw fromFetchError(err, call.signal)
  }
  // Decoded as text() decodes: a BOM dropped, bad sequences replaced.
  const text = utf8.decode(raw)
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new UpstreamError('bad_response', /^\s*</.test(text) ? 'HTML instead of JSON' : 'malformed JSON', res.status)
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UpstreamError('bad_response', 'not a JSON object', res.status)
  const body = parsed as Record<string, unknown>
  if (isError(body)) throw await fromResponse(new Response(text, { status: 502 }), call.backend.apiKey)
  return { raw, body }
}
