// Cohere's v2 API, natively: chat to POST {base}/v2/chat and embeddings to
// POST {base}/v2/embed, translated from and back to OpenAI's shapes (see
// request.ts, response.ts, stream.ts, embed.ts). Cohere's OpenAI-compatible
// endpoint is the openai provider's job (compile.ts sends a backend whose URL
// is the compatibility API there).
import type { Backend } from '../../config/compile.ts'
import { UpstreamError } from '../errors.ts'
import { isEventStream, postJson, readJsonObject } from '../http.ts'
import type { Provider, ProviderResult, UpstreamCall } from '../types.ts'
import { fromCohereEmbed, toCohereEmbed } from './embed.ts'
import { toCohereRequest } from './request.ts'
import { isCohereChat, toOpenAIResponse } from './response.ts'
import { translateStream } from './stream.ts'

function cohereHeaders(backend: Backend, stream: boolean): Headers {
  const h = new Headers(backend.headers)
  h.set('content-type', 'application/json')
  h.set('accept', stream ? 'text/event-stream' : 'application/json')
  if (backend.apiKey) h.set('authorization', `Bearer ${backend.apiKey}`)
  return h
}

/** Cohere's own statuses the shared classifier reads otherwise: 402 is its "payment required". */
async function post(call: UpstreamCall, path: string, body: unknown, stream: boolean): Promise<Response> {
  try {
    return await postJson(call, `${call.backend.baseUrl}${path}`, cohereHeaders(call.backend, stream), body)
  } catch (e) {
    if (e instanceof UpstreamError && e.upstreamStatus === 402) throw new UpstreamError('billing', e.message, 402, e.retryAfter, e.upstreamCode)
    throw e
  }
}

// Cohere's error bodies are {"message": "..."}, with nothing else to tell one from an answer.
const isError = (o: Record<string, unknown>) => typeof o.message === 'string' && !('finish_reason' in o) && !('embeddings' in o)

async function send(call: UpstreamCall): Promise<ProviderResult> {
  const model = String(call.body.model)
  if (call.op === 'embeddings') {
    const res = await post(call, '/v2/embed', toCohereEmbed(call.body), false)
    const { body } = await readJsonObject(call, res, isError)
    return { kind: 'json', body: fromCohereEmbed(body, model, call.body.encoding_format === 'base64') }
  }
  if (call.op !== 'chat') throw new UpstreamError('unavailable', `cohere does not serve ${call.op}`)
  const res = await post(call, '/v2/chat', toCohereRequest(call.body, call.stream), call.stream)
  if (call.stream && isEventStream(res)) return { kind: 'stream', body: translateStream(res.body!, model) }
  const { body } = await readJsonObject(call, res, isError)
  if (!isCohereChat(body)) throw new UpstreamError('bad_response', 'not a Cohere chat response', res.status)
  return { kind: 'json', body: toOpenAIResponse(body, model) }
}

export const cohere: Provider = {
  supports: (op) => op === 'chat' || op === 'embeddings',
  send,
}
