// Anthropic's Claude models on Vertex AI: the Messages API behind
// publishers/anthropic/models/{model}:rawPredict (:streamRawPredict for a
// stream), the model in the URL rather than the body and Vertex's own
// anthropic_version. The Anthropic translator does the rest.
import { UpstreamError } from '../errors.ts'
import { isEventStream, readJsonObject } from '../http.ts'
import type { ProviderResult, UpstreamCall } from '../types.ts'
import { toAnthropicRequest } from '../anthropic/request.ts'
import { isAnthropicMessage, toOpenAIResponse } from '../anthropic/response.ts'
import { translateStream } from '../anthropic/stream.ts'
import { modelUrl, postGoogle } from './transport.ts'

export const VERTEX_ANTHROPIC_VERSION = 'vertex-2023-10-16'

/** Claude model ids as Vertex's Model Garden spells them (claude-sonnet-4-5@20250929). */
export const isClaude = (model: string) => /^(?:publishers\/anthropic\/models\/)?claude-/i.test(model)

export async function claudeOnVertex(call: UpstreamCall, model: string): Promise<ProviderResult> {
  const { model: _, ...rest } = toAnthropicRequest(call.body, call.stream)
  const body = { anthropic_version: VERTEX_ANTHROPIC_VERSION, ...rest }
  const base = modelUrl('vertex', call.backend, model, 'anthropic')
  const res = await postGoogle('vertex', call, `${base}:${call.stream ? 'streamRawPredict' : 'rawPredict'}`, body)
  if (call.stream && isEventStream(res)) return { kind: 'stream', body: translateStream(res.body!, model) }
  const { body: parsed } = await readJsonObject(call, res, (o) => o.type === 'error')
  if (!isAnthropicMessage(parsed)) throw new UpstreamError('bad_response', 'not an Anthropic message object', res.status)
  return { kind: 'json', body: toOpenAIResponse(parsed, model) }
}
