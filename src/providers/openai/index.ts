// OpenAI and every server that speaks its API (vLLM, Ollama, TGI, LM Studio,
// Cohere's compatibility API, KServe's OpenAI endpoints). The request goes
// upstream as the client sent it, model aside; the response comes back
// byte for byte.
import type { Backend } from '../../config/compile.ts'
import { isEventStream, postJson, readJsonObject } from '../http.ts'
import { bodyOf, type Operation, type Provider, type ProviderResult, type UpstreamCall } from '../types.ts'
import { openAIHeaders } from './headers.ts'
import { responsesNative } from './responses-native.ts'

export { openAIHeaders }

export const OPENAI_PATHS: Record<Operation, string> = {
  chat: '/chat/completions',
  completions: '/completions',
  embeddings: '/embeddings',
}

export interface OpenAIRequest {
  url: string
  headers: Record<string, string>
  /** Ask streams for the usage chunk (default); off for servers that refuse stream_options. */
  streamUsage?: boolean
}


// The same string each time for a backend and operation: the upstream fetch keys its parsed URLs by it.
const urlsOf = new WeakMap<Backend, Partial<Record<Operation, string>>>()

/** `baseUrl` + the operation's path, made once per backend. */
export function openAIUrl(backend: Backend, op: Operation): string {
  let u = urlsOf.get(backend)
  if (!u) urlsOf.set(backend, (u = {}))
  return (u[op] ??= backend.baseUrl + OPENAI_PATHS[op])
}

/**
 * The call with usage asked for on a stream (so every streamed call can be
 * priced) unless the client already decided; the core strips the extra
 * chunk when the client did not ask for it. Where the client sent no
 * stream_options, the member is spliced into its own JSON text, so the
 * upstream gets the request as written and the body is not written out
 * again (JSON.stringify of a chat request took ~8 µs of a stream's CPU in a
 * profile under bench:stream load, 2026-12-06).
 */
export function withStreamUsage(call: UpstreamCall): UpstreamCall {
  const { body, raw } = call
  if (!call.stream || call.op === 'embeddings') return call
  if (!('stream_options' in body)) {
    const text = raw === undefined ? undefined : rawWithStreamUsage(raw)
    if (text !== undefined) return { ...call, raw: text }
  }
  const so = body.stream_options as Record<string, unknown> | null | undefined
  if (so && so.include_usage != null) return call
  return { ...call, body: { ...body, stream_options: { ...so, include_usage: true } }, raw: undefined }
}

/** `raw` with "stream_options" added as its last member; undefined when it does not end as an object with members. */
function rawWithStreamUsage(raw: string): string | undefined {
  let end = raw.length - 1
  while (end > 0 && /\s/.test(raw[end]!)) end--
  if (raw[end] !== '}') return undefined
  let last = end - 1
  while (last > 0 && /\s/.test(raw[last]!)) last--
  if (last <= 0 || raw[last] === '{') return undefined
  return `${raw.slice(0, end)},"stream_options":{"include_usage":true}}`
}

/** POST an OpenAI-protocol request and read the result; shared by openai, azure-openai and kserve. */
export async function sendOpenAI(call: UpstreamCall, req: OpenAIRequest): Promise<ProviderResult> {
  const sent = req.streamUsage === false ? call : withStreamUsage(call)
  const res = await postJson(sent, req.url, req.headers, sent.body)
  if (call.stream && isEventStream(res)) return { kind: 'stream', body: bodyOf(res)! }
  // Some servers answer 200 with an error body.
  const { raw, body } = await readJsonObject(call, res, (o) => Boolean(o.error))
  // Asked for a stream, got a whole response: legal for some servers; the core turns it into chunks.
  return call.stream ? { kind: 'json', body } : { kind: 'json', body, raw }
}

export const openai: Provider = {
  supports: () => true,
  native: responsesNative,
  send: (call) => sendOpenAI(call, { url: openAIUrl(call.backend, call.op), headers: openAIHeaders(call.backend) }),
}
