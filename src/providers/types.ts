// The provider seam: one implementation per upstream protocol. A provider
// takes an OpenAI-shaped request and returns an OpenAI-shaped result, so the
// rest of the gateway speaks one protocol.
import type { Backend } from '../config/compile.ts'

export type Operation = 'chat' | 'completions' | 'embeddings'

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

export interface UpstreamCall {
  backend: Backend
  op: Operation
  /** The client's OpenAI request, with `model` already set to the name the backend expects. */
  body: Record<string, unknown>
  /** `body`'s JSON text as the client sent it, when `body` is the client's unchanged: sent as it is. */
  raw?: string
  stream: boolean
  /** Aborts the upstream request: client gone, attempt timed out. */
  signal: AbortSignal
  fetch: FetchLike
  requestId: string
}

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  [k: string]: unknown
}

export type ProviderResult =
  /** A complete OpenAI response object. `raw` is its exact JSON bytes when the upstream already spoke OpenAI (sent on untouched). */
  | { kind: 'json'; body: Record<string, unknown>; raw?: Uint8Array<ArrayBuffer> }
  /**
   * OpenAI chat/completions SSE bytes: `data: {chunk}\n\n` ... `data: [DONE]\n\n`.
   * A failure inside the stream is an event `data: {"error":{...}}`; the core
   * decides whether it can still fail over.
   */
  | { kind: 'stream'; body: ReadableStream<Uint8Array> }

export interface Provider {
  /** Throws UpstreamError for every failure, classified so the core can decide to fail over. */
  send(call: UpstreamCall): Promise<ProviderResult>
  /** Which operations the protocol can carry (to this backend, when its settings decide). */
  supports(op: Operation, backend?: Backend): boolean
}
