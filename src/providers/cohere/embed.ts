// OpenAI embeddings request <-> Cohere embed v2 (POST /v2/embed).
// Cohere wants texts and an input type; it answers floats by type, which
// become OpenAI's list, base64 (little-endian float32, as OpenAI encodes it)
// when the client asked for it, as the openai SDK does by default.
import { UpstreamError } from '../errors.ts'
import type { Usage } from '../types.ts'

type Obj = Record<string, any>

export function toCohereEmbed(body: Obj): Obj {
  const input = body.input
  const texts = typeof input === 'string' ? [input] : Array.isArray(input) && input.every((x) => typeof x === 'string') ? input : undefined
  if (!texts) throw new UpstreamError('bad_request', 'Cohere embeds text: input must be a string or an array of strings (not token ids)', 400, undefined, 'invalid_request_error', 'input')
  // OpenAI has no input type; documents is the kind meant to be stored and searched.
  const out: Obj = { model: body.model, texts, input_type: 'search_document', embedding_types: ['float'] }
  if (typeof body.dimensions === 'number') out.output_dimension = body.dimensions
  return out
}

/** Float32 little-endian bytes in base64: what OpenAI sends for encoding_format "base64". */
export function floatsToBase64(v: number[]): string {
  const f = new Float32Array(v)
  const bytes = new Uint8Array(f.buffer)
  // Float32Array uses the platform's order; every runtime Kortex runs on is little-endian, as the wire format is.
  let s = ''
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(s)
}

export function fromCohereEmbed(r: Obj, model: string, base64: boolean): Record<string, unknown> {
  const vectors = r.embeddings?.float ?? (Array.isArray(r.embeddings) ? r.embeddings : undefined)
  if (!Array.isArray(vectors)) throw new UpstreamError('bad_response', 'a Cohere embed answer without float embeddings', 200)
  const tokens = r.meta?.billed_units?.input_tokens
  const out: Obj = {
    object: 'list',
    model,
    data: vectors.map((v: number[], index: number) => ({ object: 'embedding', index, embedding: base64 ? floatsToBase64(v) : v })),
  }
  if (typeof tokens === 'number') out.usage = { prompt_tokens: tokens, total_tokens: tokens } satisfies Partial<Usage>
  return out
}
