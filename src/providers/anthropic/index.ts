// Anthropic's Messages API. Chat requests are translated to
// POST {baseUrl}/v1/messages and the answer back to OpenAI's shapes, whole or
// streamed (see request.ts, response.ts, stream.ts).
import type { Backend } from '../../config/compile.ts'
import { UpstreamError, fromFetchError, fromResponse } from '../errors.ts'
import type { Provider, ProviderResult, UpstreamCall } from '../types.ts'
import { toAnthropicRequest } from './request.ts'
import { isAnthropicMessage, toOpenAIResponse } from './response.ts'
import { translateStream } from './stream.ts'

export const ANTHROPIC_VERSION = '2023-06-01'

/** Our key for the backend, never the client's; backend headers may pin another version or add anthropic-beta. */
export function anthropicHeaders(backend: Backend, stream: boolean): Headers {
  const h = new Headers(backend.headers)
  if (!h.has('anthropic-version')) h.set('anthropic-version', ANTHROPIC_VERSION)
  h.set('content-type', 'application/json')
  h.set('accept', stream ? 'text/event-stream' : 'application/json')
  if (backend.apiKey) h.set('x-api-key', backend.apiKey)
  return h
}

async function send(call: UpstreamCall): Promise<ProviderResult> {
  const { backend } = call
  if (backend.missingSecret) throw new UpstreamError('unavailable', `credentials not configured (set ${backend.missingSecret})`)
  if (call.op !== 'chat') throw new UpstreamError('unavailable', `anthropic does not serve ${call.op}`)
  const body = toAnthropicRequest(call.body, call.stream)
  let res: Response
  try {
    res = await call.fetch(`${backend.baseUrl}/v1/messages`, {
      method: 'POST',
      headers: anthropicHeaders(backend, call.stream),
      body: JSON.stringify(body),
      signal: call.signal,
    })
  } catch (err) {
    throw fromFetchError(err, call.signal)
  }
  if (!res.ok) throw await fromResponse(res, backend.apiKey)
  const type = res.headers.get('content-type') ?? ''
  if (call.stream && type.includes('text/event-stream') && res.body) return { kind: 'stream', body: translateStream(res.body, body.model) }

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
  if (parsed && typeof parsed === 'object' && (parsed as { type?: unknown }).type === 'error') {
    // An error body with a 2xx status: classify it like any other.
    throw await fromResponse(new Response(raw, { status: 502 }), backend.apiKey)
  }
  if (!isAnthropicMessage(parsed)) throw new UpstreamError('bad_response', 'not an Anthropic message object', res.status)
  // Asked for a stream and got a whole message: the core turns it into chunks.
  return { kind: 'json', body: toOpenAIResponse(parsed, body.model) }
}

export const anthropic: Provider = {
  supports: (op) => op === 'chat',
  send,
}
