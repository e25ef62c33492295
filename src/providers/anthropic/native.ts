// A Messages client on an Anthropic backend: its request goes to
// POST {baseUrl}/v1/messages as it came (cache_control, thinking blocks and
// all; only `model` may be the backend's), with our key, the client's
// anthropic-version, and the client headers the route lets through
// (anthropic-beta). The answer comes back untouched.
import { UpstreamError } from '../errors.ts'
import { isEventStream, postJson, readJsonObject } from '../http.ts'
import type { NativeRequest, NativeResult, NativeSupport, UpstreamCall } from '../types.ts'
import { anthropicDialect } from './dialect.ts'
import { anthropicHeaders } from './headers.ts'
import { isAnthropicMessage, toOpenAIUsage } from './response.ts'

/** Our headers for the backend, then the client's version and its allowed headers (never its credentials: the route's list cannot name them). */
export function nativeHeaders(call: UpstreamCall, native: NativeRequest, stream: boolean): Headers {
  const h = anthropicHeaders(call.backend, stream)
  // The body is written for the client's version: it wins over a version the backend pins.
  const version = native.headers.get('anthropic-version')
  if (version) h.set('anthropic-version', version)
  for (const name of call.forwardHeaders ?? []) {
    const v = native.headers.get(name)
    // Appended: a list the backend's own headers start (its anthropic-beta) is extended, not replaced.
    if (v !== null) h.append(name, v)
  }
  return h
}

async function send(call: UpstreamCall & { native: NativeRequest }): Promise<NativeResult> {
  const { native } = call
  const stream = native.body.stream === true
  const res = await postJson({ ...call, body: native.body, raw: native.raw }, `${call.backend.baseUrl}/v1/messages`, nativeHeaders(call, native, stream), native.body)
  if (stream && isEventStream(res)) return { kind: 'stream', body: res.body!, dialect: anthropicDialect() }
  if (stream) {
    res.body?.cancel().catch(() => {})
    throw new UpstreamError('bad_response', 'a whole message where an event stream was asked for', res.status)
  }
  const { raw, body } = await readJsonObject(call, res, (o) => o.type === 'error')
  if (!isAnthropicMessage(body)) throw new UpstreamError('bad_response', 'not an Anthropic message object', res.status)
  // No usage reported: none, so the gateway estimates it (zero would bill nothing).
  return { kind: 'json', body, raw, usage: body.usage ? toOpenAIUsage(body.usage) : undefined }
}

export const anthropicNative: NativeSupport = {
  speaks: (protocol) => protocol === 'messages',
  send,
}
