// Anthropic's Messages API. Chat requests are translated to
// POST {baseUrl}/v1/messages and the answer back to OpenAI's shapes, whole or
// streamed (see request.ts, response.ts, stream.ts). A Messages client's
// request goes as it came (native.ts).
import { UpstreamError } from '../errors.ts'
import { isEventStream, postJson, readJsonObject } from '../http.ts'
import type { Provider, ProviderResult, UpstreamCall } from '../types.ts'
import { toAnthropicRequest } from './request.ts'
import { isAnthropicMessage, toOpenAIResponse } from './response.ts'
import { translateStream } from './stream.ts'
import { anthropicHeaders } from './headers.ts'
import { anthropicNative } from './native.ts'

export { ANTHROPIC_VERSION, anthropicHeaders } from './headers.ts'

async function send(call: UpstreamCall): Promise<ProviderResult> {
  if (call.op !== 'chat') throw new UpstreamError('unavailable', `anthropic does not serve ${call.op}`)
  const body = toAnthropicRequest(call.body, call.stream)
  const res = await postJson(call, `${call.backend.baseUrl}/v1/messages`, anthropicHeaders(call.backend, call.stream), body)
  if (call.stream && isEventStream(res)) return { kind: 'stream', body: translateStream(res.body!, body.model) }
  const { body: parsed } = await readJsonObject(call, res, (o) => o.type === 'error')
  if (!isAnthropicMessage(parsed)) throw new UpstreamError('bad_response', 'not an Anthropic message object', res.status)
  // Asked for a stream and got a whole message: the core turns it into chunks.
  try {
    return { kind: 'json', body: toOpenAIResponse(parsed, body.model) }
  } catch {
    throw new UpstreamError('bad_response', 'an Anthropic message that cannot be read', res.status)
  }
}

export const anthropic: Provider = {
  supports: (op) => op === 'chat',
  send,
  native: anthropicNative,
}
