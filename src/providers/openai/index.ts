// OpenAI and every server that speaks its API (vLLM, Ollama, TGI, LM Studio,
// Cohere's compatibility API, KServe's OpenAI endpoints). The request goes
// upstream as the client sent it, model aside; the response comes back
// byte for byte.
import type { Backend } from '../../config/compile.ts'
import { UpstreamError, fromFetchError, fromResponse } from '../errors.ts'
import type { Operation, Provider, ProviderResult, UpstreamCall } from '../types.ts'

export const OPENAI_PATHS: Record<Operation, string> = {
  chat: '/chat/completions',
  completions: '/completions',
  embeddings: '/embeddings',
}

export interface OpenAIRequest {
  url: string
  headers: Record<string, string>
}

/** Headers for an OpenAI-style upstream: our key for the backend, never the client's. */
export function openAIHeaders(backend: Backend, auth: 'bearer' | 'api-key' = 'bearer'): Record<string, string> {
  const h: Record<string, string> = { ...backend.headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
  if (backend.apiKey) {
    if (auth === 'bearer') h.authorization = `Bearer ${backend.apiKey}`
    else h['api-key'] = backend.apiKey
  }
  return h
}

/**
 * Ask for usage on streams (so every streamed call can be priced) unless the
 * client already decided; the core strips the extra chunk when the client
 * did not ask for it.
 */
export function withStreamUsage(body: Record<string, unknown>, op: Operation, stream: boolean): Record<string, unknown> {
  if (!stream || op === 'embeddings') return body
  const so = body.stream_options as Record<string, unknown> | null | undefined
  if (so && so.include_usage != null) return body
  return { ...body, stream_options: { ...so, include_usage: true } }
}

/** POST an OpenAI-protocol request and read the result; shared by openai, azure-openai and kserve. */
export async function sendOpenAI(call: UpstreamCall, req: OpenAIRequest): Promise<ProviderResult> {
  if (call.backend.missingSecret) throw new UpstreamError('unavailable', `credentials not configured (set ${call.backend.missingSecret})`)
  const body = withStreamUsage(call.body, call.op, call.stream)
  let res: Response
  try {
    res = await call.fetch(req.url, { method: 'POST', headers: req.headers, body: JSON.stringify(body), signal: call.signal })
  } catch (err) {
    throw fromFetchError(err, call.signal)
  }
  if (!res.ok) throw await fromResponse(res, call.backend.apiKey)
  const type = res.headers.get('content-type') ?? ''
  if (call.stream && type.includes('text/event-stream') && res.body) return { kind: 'stream', body: res.body }
  let raw: string
  try {
    raw = await res.text()
  } catch (err) {
    throw fromFetchError(err, call.signal)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    throw new UpstreamError('bad_response', /^\s*</.test(raw) ? 'HTML instead of JSON' : 'malformed JSON', res.status)
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UpstreamError('bad_response', 'not a JSON object', res.status)
  if ('error' in parsed && (parsed as { error: unknown }).error) {
    // Some servers answer 200 with an error body.
    throw await fromResponse(new Response(raw, { status: 502 }), call.backend.apiKey)
  }
  if (call.stream) {
    // Asked for a stream, got a whole response: legal for some servers; the core turns it into chunks.
    return { kind: 'json', body: parsed as Record<string, unknown> }
  }
  return { kind: 'json', body: parsed as Record<string, unknown>, raw }
}

export const openai: Provider = {
  supports: () => true,
  send: (call) => sendOpenAI(call, { url: call.backend.baseUrl + OPENAI_PATHS[call.op], headers: openAIHeaders(call.backend) }),
}
