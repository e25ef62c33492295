// OpenAI embeddings -> Bedrock's embedding models through InvokeModel:
// Amazon Titan Text Embeddings ({inputText} in, {embedding,
// inputTextTokenCount} out, one text a call) and Cohere Embed ({texts,
// input_type} in, up to 96 texts a call, {embeddings} out; the token count in
// the X-Amzn-Bedrock-Input-Token-Count header).
import { UpstreamError } from '../errors.ts'
import { readJsonObject } from '../http.ts'
import type { ProviderResult, UpstreamCall } from '../types.ts'
import { modelPath, signedPost } from './sign.ts'

/** Model ids embeddings.ts writes bodies for. */
export const EMBEDDING_MODEL = /titan-embed|cohere\.embed/

const COHERE_BATCH = 96

export async function embed(call: UpstreamCall, model: string): Promise<ProviderResult> {
  if (!EMBEDDING_MODEL.test(model)) throw new UpstreamError('unavailable', `bedrock embeddings are served by Titan and Cohere embedding models, not "${model}"`)
  const input = call.body.input
  const texts = typeof input === 'string' ? [input] : Array.isArray(input) && input.every((s) => typeof s === 'string') ? (input as string[]) : undefined
  if (!texts?.length) throw new UpstreamError('bad_request', 'input must be a string or an array of strings for this backend', undefined, undefined, 'invalid_value', 'input')
  const url = modelPath(call.backend.baseUrl, model, 'invoke')
  const vectors: number[][] = []
  let tokens: number | undefined = 0
  const count = (n: unknown) => (tokens = typeof n === 'number' && tokens !== undefined ? tokens + n : undefined)
  if (/cohere\.embed/.test(model)) {
    for (let i = 0; i < texts.length; i += COHERE_BATCH) {
      // OpenAI has no input_type: documents, the kind an index is built from.
      const res = await signedPost(call, url, { texts: texts.slice(i, i + COHERE_BATCH), input_type: 'search_document' })
      const { body } = await readJsonObject(call, res, () => false)
      const e = body.embeddings as unknown
      const got = Array.isArray(e) ? e : (e as { float?: unknown } | null)?.float
      if (!Array.isArray(got) || got.length !== Math.min(COHERE_BATCH, texts.length - i)) throw new UpstreamError('bad_response', 'the Cohere answer has not one embedding per text', res.status)
      vectors.push(...(got as number[][]))
      const h = res.headers.get('x-amzn-bedrock-input-token-count')
      count(h === null ? undefined : Number(h))
    }
  } else {
    const extra: Record<string, unknown> = typeof call.body.dimensions === 'number' ? { dimensions: call.body.dimensions } : {}
    // Titan embeds one text per call; in order, so a failure stops the rest.
    for (const inputText of texts) {
      const res = await signedPost(call, url, { ...extra, inputText })
      const { body } = await readJsonObject(call, res, () => false)
      if (!Array.isArray(body.embedding)) throw new UpstreamError('bad_response', 'no embedding in the Titan answer', res.status)
      vectors.push(body.embedding as number[])
      count(body.inputTextTokenCount)
    }
  }
  const b64 = call.body.encoding_format === 'base64'
  const data = vectors.map((v, index) => ({ object: 'embedding', index, embedding: b64 ? base64Floats(v) : v }))
  // No count from the upstream: no usage rather than zeros, so the gateway estimates it.
  return { kind: 'json', body: { object: 'list', data, model, ...(tokens !== undefined ? { usage: { prompt_tokens: tokens, total_tokens: tokens } } : {}) } }
}

/** OpenAI's base64 encoding_format (the openai SDK's default): little-endian float32s. */
function base64Floats(v: number[]): string {
  const bytes = new Uint8Array(new Float32Array(v).buffer)
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s)
}
