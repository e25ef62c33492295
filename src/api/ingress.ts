// The ingress seam: one translator per client API. Each turns its client's
// request into the internal form (an OpenAI Chat Completions, Completions or
// Embeddings request: what every provider takes) and the internal answer
// back into its client's shape. Routing, limits, attempts and accounting sit
// between and never know which API the client spoke. A hub form means one
// translator per API, not one per (API, backend) pair.
import type { Operation, StreamBody } from '../providers/types.ts'
import type { StateStore } from '../state/store.ts'
import type { GatewayError } from './errors.ts'

/** The client APIs a backend may also speak natively (its request then goes as the client sent it). */
export type NativeProtocol = 'responses' | 'messages'

export interface IngressRequest {
  /** The operation in the internal form. */
  op: Operation
  /** The model name the client sent: routes resolve it. */
  model: string
  /** The request in the internal form (OpenAI), with `model` as the client sent it. */
  body: Record<string, unknown>
  /** `body`'s JSON text, only when `body` is exactly what the client sent (the OpenAI ingress): sent on untouched. */
  raw?: string
  stream: boolean
  /** Whether the client wants the usage chunk in the stream (translated streams always take it: they report usage their own way). */
  clientWantsUsage: boolean
  /** The client's own request, for a backend that speaks its protocol natively. */
  native?: { protocol: NativeProtocol; body: Record<string, unknown>; raw: string }
  /**
   * The request refers to state the gateway does not hold (a previous response it never stored):
   * only a backend that speaks `native`'s protocol may serve it; for any other, this error.
   */
  nativeOnly?: GatewayError
  /** The translator's own per-request state (a Responses turn's conversation, ids), handed back to respond/stream. */
  state?: unknown
}

/** What a translator may need beyond the request: shared state and who is asking. */
export interface IngressContext {
  requestId: string
  /**
   * Who owns what this request stores (stored responses): the API key's name on a keyed
   * gateway; on an open one, a digest of the presented key (or 'anonymous' with none).
   * Worked out only when a translator asks (the digest is Web Crypto's, so async).
   */
  scope(): Promise<string>
  store: StateStore
  now(): number
  /** Run after the response without delaying it (the runtime's waitUntil). */
  waitUntil(p: Promise<unknown>): void
}

export interface Ingress {
  /** Validates the client's parsed JSON (400s in this API's words) and translates it. */
  parse(json: unknown, text: string, req: Request, ctx: IngressContext): IngressRequest | Promise<IngressRequest>
  /**
   * A complete internal answer (a chat.completion, text_completion or embeddings list) as this API's
   * response body. Handing back the very object given means "unchanged": the upstream's bytes then
   * go out as they came, so a translator must never change the body in place and return it.
   */
  respond(body: Record<string, unknown>, request: IngressRequest, ctx: IngressContext): Record<string, unknown> | Promise<Record<string, unknown>>
  /**
   * The internal SSE stream (OpenAI chunks, `data: [DONE]`, and `data: {"error":...}` for a
   * failure after the first content) as this API's event stream. The identity for OpenAI.
   */
  stream(body: StreamBody, request: IngressRequest, ctx: IngressContext): StreamBody
  /** The status this API answers `err` with where it is not err.status (the access line and metrics record the same). */
  status?(err: GatewayError): number
  /** A gateway error (a refusal, or the last upstream failure) as a response in this API's shape and status, with err.headers (Retry-After, rate limits) and `headers`. */
  error(err: GatewayError, headers: Record<string, string>): Response
}
