// Mistral's API (https://api.mistral.ai/v1): OpenAI's paths and shapes, with
// the differences made explicit (request.ts, ids.ts, errors.ts, stream.ts)
// instead of hoping Mistral ignores what it does not know: it refuses it.
import { floatsToBase64 } from '../cohere/embed.ts'
import { UpstreamError } from '../errors.ts'
import { isEventStream, postJson, readJsonObject } from '../http.ts'
import { openAIHeaders } from '../openai/headers.ts'
import type { Provider, ProviderResult, UpstreamCall } from '../types.ts'
import { withOpenAIErrors } from './errors.ts'
import { ToolIds } from './ids.ts'
import { toMistralEmbeddings, toMistralRequest, toolIdsOf } from './request.ts'
import { restoreIds, translateStream } from './stream.ts'

const isError = (o: Record<string, unknown>) => o.object === 'error' || Boolean(o.error)

async function embeddings(call: UpstreamCall): Promise<ProviderResult> {
  const res = await postJson(call, `${call.backend.baseUrl}/embeddings`, openAIHeaders(call.backend), toMistralEmbeddings(call.body))
  const { body } = await readJsonObject(call, res, isError)
  if (call.body.encoding_format === 'base64' && Array.isArray(body.data)) {
    for (const d of body.data as Array<{ embedding?: unknown }>) if (Array.isArray(d.embedding)) d.embedding = floatsToBase64(d.embedding)
  }
  return { kind: 'json', body }
}

async function send(original: UpstreamCall): Promise<ProviderResult> {
  const call = { ...original, fetch: withOpenAIErrors(original.fetch) }
  if (call.op === 'embeddings') return embeddings(call)
  if (call.op !== 'chat') throw new UpstreamError('unavailable', `mistral does not serve ${call.op}`)
  const ids = new ToolIds()
  await ids.learn(toolIdsOf(call.body))
  const res = await postJson(call, `${call.backend.baseUrl}/chat/completions`, openAIHeaders(call.backend), toMistralRequest(call.body, call.backend, ids))
  if (call.stream && isEventStream(res)) return { kind: 'stream', body: translateStream(res.body!, ids) }
  const { body } = await readJsonObject(call, res, isError)
  restoreIds(body.choices, ids)
  return { kind: 'json', body }
}

export const mistral: Provider = {
  supports: (op) => op === 'chat' || op === 'embeddings',
  send,
}
