// Google's Gemini models, two ways in with one request shape:
// - gemini: the Generative Language API, {url}/v1beta/models/{model}:generateContent,
//   an API key in x-goog-api-key;
// - vertex: Vertex AI, {url}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent,
//   an OAuth2 bearer token from a service-account key or the GKE metadata server (auth.ts).
// Streams use :streamGenerateContent?alt=sse. Chat requests are translated
// (request.ts) and answers read back (response.ts, stream.ts); embeddings go
// to batchEmbedContents (Gemini) or predict (Vertex) (embeddings.ts).
// Claude models on Vertex go through the Anthropic translator (anthropic.ts).
import { UpstreamError } from '../errors.ts'
import { isEventStream, readJsonObject } from '../http.ts'
import type { Provider, ProviderResult, UpstreamCall } from '../types.ts'
import { claudeOnVertex, isClaude } from './anthropic.ts'
import { embed } from './embeddings.ts'
import { toGeminiRequest } from './request.ts'
import { isGenerateContentResponse, isGoogleError, toOpenAIResponse } from './response.ts'
import { openStream } from './stream.ts'
import { modelUrl, postGoogle, type GoogleFlavor } from './transport.ts'

async function chat(flavor: GoogleFlavor, call: UpstreamCall): Promise<ProviderResult> {
  const model = String(call.body.model ?? call.backend.model ?? '')
  if (flavor === 'vertex' && isClaude(model)) return claudeOnVertex(call, model)
  const body = toGeminiRequest(call.body)
  const base = modelUrl(flavor, call.backend, model)
  const url = call.stream ? `${base}:streamGenerateContent?alt=sse` : `${base}:generateContent`
  const res = await postGoogle(flavor, call, url, body)
  if (call.stream && isEventStream(res)) return { kind: 'stream', body: await openStream(res.body!, model, call.signal) }
  const { body: parsed } = await readJsonObject(call, res, isGoogleError)
  if (!isGenerateContentResponse(parsed)) throw new UpstreamError('bad_response', 'not a GenerateContentResponse', res.status)
  return { kind: 'json', body: toOpenAIResponse(parsed, model) }
}

function provider(flavor: GoogleFlavor): Provider {
  return {
    supports: (op) => op === 'chat' || op === 'embeddings',
    async send(call) {
      if (call.op === 'chat') return chat(flavor, call)
      if (call.op === 'embeddings') return embed(flavor, call)
      throw new UpstreamError('unavailable', `${flavor} does not serve ${call.op}`)
    },
  }
}

export const gemini = provider('gemini')
export const vertex = provider('vertex')
