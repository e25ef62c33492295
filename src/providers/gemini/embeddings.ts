// OpenAI embeddings -> Google's: the Gemini API's batchEmbedContents
// ({requests: [{model, content}]} -> {embeddings: [{values}]}), Vertex AI's
// predict ({instances: [{content}]} -> {predictions: [{embeddings: {values,
// statistics: {token_count}}}]}), back as an OpenAI embeddings list.
import { UpstreamError } from '../errors.ts'
import { readJsonObject } from '../http.ts'
import type { ProviderResult, UpstreamCall } from '../types.ts'
import { modelUrl, postGoogle, type GoogleFlavor } from './transport.ts'
import { isGoogleError } from './response.ts'

type Obj = Record<string, any>

function texts(input: unknown): string[] {
  if (typeof input === 'string') return [input]
  if (Array.isArray(input) && input.length && input.every((x) => typeof x === 'string')) return input as string[]
  throw new UpstreamError('bad_request', 'input must be a string or an array of strings for this backend (token arrays are not supported)', undefined, undefined, 'invalid_value', 'input')
}

function base64(values: number[]): string {
  const bytes = new Uint8Array(new Float32Array(values).buffer)
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s)
}

export async function embed(flavor: GoogleFlavor, call: UpstreamCall): Promise<ProviderResult> {
  const model = String(call.body.model ?? call.backend.model ?? '')
  const inputs = texts(call.body.input)
  const dims = typeof call.body.dimensions === 'number' ? call.body.dimensions : undefined
  const base = modelUrl(flavor, call.backend, model)
  let vectors: unknown[]
  let tokens: number | undefined
  if (flavor === 'gemini') {
    const name = `models/${model.replace(/^models\//, '')}`
    const requests = inputs.map((text) => ({ model: name, content: { parts: [{ text }] }, ...(dims ? { outputDimensionality: dims } : {}) }))
    const res = await postGoogle(flavor, call, `${base}:batchEmbedContents`, { requests })
    const { body } = await readJsonObject(call, res, isGoogleError)
    vectors = Array.isArray(body.embeddings) ? body.embeddings.map((e: Obj) => e?.values) : []
  } else {
    const body = { instances: inputs.map((content) => ({ content })), ...(dims ? { parameters: { outputDimensionality: dims } } : {}) }
    const res = await postGoogle(flavor, call, `${base}:predict`, body)
    const { body: out } = await readJsonObject(call, res, isGoogleError)
    const preds: Obj[] = Array.isArray(out.predictions) ? out.predictions : []
    vectors = preds.map((p) => p?.embeddings?.values)
    tokens = preds.reduce((n, p) => n + (Number(p?.embeddings?.statistics?.token_count) || 0), 0)
  }
  if (vectors.length !== inputs.length || !vectors.every((v) => Array.isArray(v) && v.every((x) => typeof x === 'number'))) {
    throw new UpstreamError('bad_response', `expected ${inputs.length} embeddings`)
  }
  const b64 = call.body.encoding_format === 'base64'
  const result: Obj = {
    object: 'list',
    model,
    data: (vectors as number[][]).map((v, index) => ({ object: 'embedding', index, embedding: b64 ? base64(v) : v })),
  }
  // The Gemini API reports no token counts for embeddings: the gateway estimates them.
  if (tokens !== undefined) result.usage = { prompt_tokens: tokens, total_tokens: tokens }
  return { kind: 'json', body: result }
}
