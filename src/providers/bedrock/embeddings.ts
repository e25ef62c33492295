// OpenAI embeddings -> Amazon Titan Text Embeddings (InvokeModel, one text a
// call: {inputText} in, {embedding, inputTextTokenCount} out).
import { UpstreamError } from '../errors.ts'
import { readJsonObject } from '../http.ts'
import type { ProviderResult, UpstreamCall } from '../types.ts'
import { modelPath, signedPost } from './sign.ts'

export async function embed(call: UpstreamCall, model: string): Promise<ProviderResult> {
  if (!/titan-embed/.test(model)) throw new UpstreamError('unavailable', `bedrock embeddings are served through Titan embedding models, not "${model}"`)
  const input = call.body.input
  const texts = typeof input === 'string' ? [input] : Array.isArray(input) && input.every((s) => typeof s === 'string') ? (input as string[]) : undefined
  if (!texts?.length) throw new UpstreamError('bad_request', 'input must be a string or an array of strings for this backend', undefined, undefined, 'invalid_value', 'input')
  const body: Record<string, unknown> = {}
  if (typeof call.body.dimensions === 'number') body.dimensions = call.body.dimensions
  const data: Array<{ object: 'embedding'; index: number; embedding: number[] | string }> = []
  let tokens = 0
  // Titan embeds one text per call; in order, so a failure stops the rest.
  for (const [index, inputText] of texts.entries()) {
    const res = await signedPost(call, modelPath(call.backend.baseUrl, model, 'invoke'), { ...body, inputText })
    const { body: out } = await readJsonObject(call, res, () => false)
    if (!Array.isArray(out.embedding)) throw new UpstreamError('bad_response', 'no embedding in the Titan answer', res.status)
    const vector = out.embedding as number[]
    data.push({ object: 'embedding', index, embedding: call.body.encoding_format === 'base64' ? base64Floats(vector) : vector })
    tokens += typeof out.inputTextTokenCount === 'number' ? out.inputTextTokenCount : 0
  }
  return { kind: 'json', body: { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } } }
}

/** OpenAI's base64 encoding_format (the openai SDK's default): little-endian float32s. */
function base64Floats(v: number[]): string {
  const bytes = new Uint8Array(new Float32Array(v).buffer)
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s)
}
