// AWS Bedrock through the Converse API: one request shape for the Claude,
// Llama, Mistral, Nova and Cohere models on it. Chat goes to
// POST {endpoint}/model/{modelId}/converse (or /converse-stream, whose binary
// event stream is decoded as it arrives), signed with Signature V4;
// embeddings go to Titan or Cohere Embed (embeddings.ts).
import { UpstreamError } from '../errors.ts'
import { readJsonObject } from '../http.ts'
import type { Provider, ProviderResult, UpstreamCall } from '../types.ts'
import { EMBEDDING_MODEL, embed } from './embeddings.ts'
import { structuredOutput, toConverseRequest } from './request.ts'
import { isConverseResponse, toOpenAIResponse } from './response.ts'
import { modelPath, signedPost } from './sign.ts'
import { translateConverseStream } from './stream.ts'

async function send(call: UpstreamCall): Promise<ProviderResult> {
  const model = String(call.body.model ?? '')
  if (call.op === 'embeddings') return embed(call, model)
  if (call.op !== 'chat') throw new UpstreamError('unavailable', `bedrock does not serve ${call.op}`)
  const body = toConverseRequest(call.body)
  // A response_format rides on a forced tool; its input comes back as the content.
  const jsonTool = structuredOutput(call.body)?.name
  const base = call.backend.baseUrl
  if (call.stream) {
    const res = await signedPost(call, modelPath(base, model, 'converse-stream'), body, 'application/vnd.amazon.eventstream')
    if (!res.body) throw new UpstreamError('bad_response', 'an empty ConverseStream answer', res.status)
    return { kind: 'stream', body: translateConverseStream(res.body, model, jsonTool) }
  }
  const res = await signedPost(call, modelPath(base, model, 'converse'), body)
  const { body: parsed } = await readJsonObject(call, res, () => false)
  if (!isConverseResponse(parsed)) throw new UpstreamError('bad_response', 'not a Converse answer', res.status)
  return { kind: 'json', body: toOpenAIResponse(parsed, model, Date.now(), jsonTool) }
}

export const bedrock: Provider = {
  // Embeddings only where the backend's model is one embeddings.ts writes bodies for (Titan, Cohere).
  supports: (op, backend) => op === 'chat' || (op === 'embeddings' && (!backend?.model || EMBEDDING_MODEL.test(backend.model))),
  send,
}
