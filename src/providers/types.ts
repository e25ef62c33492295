// The provider seam: one implementation per upstream protocol. A provider
// takes an OpenAI-shaped request and returns an OpenAI-shaped result, so the
// rest of the gateway speaks one protocol.
import type { Backend } from '../config/compile.ts'
import type { NativeProtocol } from '../api/ingress.ts'

export type { NativeProtocol }

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
  /** The client's own request, for a native send (sendNative): `body` with `model` already the backend's. */
  native?: NativeRequest
  /** Names (lowercase) of the client's headers the route lets through to a native backend (anthropic-beta). */
  forwardHeaders?: readonly string[]
}

/** A client's request in its own protocol, as it came. */
export interface NativeRequest {
  protocol: NativeProtocol
  body: Record<string, unknown>
  /** `body`'s JSON text as the client sent it: sent as it is while `body` is unchanged. */
  raw?: string
  /** The client's request headers (only the protocol's own and the route's allowed ones are ever sent on). */
  headers: Headers
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
  | { kind: 'stream'; body: StreamBody }

/**
 * How to read one protocol's event stream, for a native stream passed
 * through (src/resilience/native-stream.ts). Made per stream: it may keep
 * state (usage so far, the last sequence number). `type` is the event's
 * `type` field (its `event:` line when the data has none).
 */
export interface StreamDialect {
  /** The failure an event reports (an error event, a failed response) as an upstream error body and status, to classify. */
  errorOf(type: string, data: Record<string, any>): { status: number; body: string } | undefined
  /** Whether the event carries something the client must see (not the preamble: message start, empty blocks, pings). */
  isContent(type: string, data: Record<string, any>): boolean
  /** Reads usage from the event, if it has any; returns the usage so far in the internal (OpenAI) form. */
  usageOf(type: string, data: Record<string, any>): Usage | undefined
  /** The protocol's last event (after it, nothing more is read). */
  isEnd(type: string, data: Record<string, any>): boolean
  /** The event block (without its blank line) telling the client the stream failed, in this protocol's words. */
  errorEvent(message: string, code: string): string
}

/** What a native send returns: the answer in the client's own protocol. */
export type NativeResult =
  /** The whole answer as the upstream sent it; `usage` in the internal form, for accounting. */
  | { kind: 'json'; body: Record<string, unknown>; raw: Uint8Array<ArrayBuffer>; usage?: Usage }
  /** The upstream's event stream, untouched; `dialect` reads it. */
  | { kind: 'stream'; body: ReadableStream<Uint8Array>; dialect: StreamDialect }

/** A provider whose backends can also speak a client API natively. */
export interface NativeSupport {
  /** Whether this backend takes `protocol` as the client sent it (its settings may decide). */
  speaks(protocol: NativeProtocol, backend: Backend): boolean
  /** Sends `call.native` as it is (model aside). Throws UpstreamError for every failure, classified. */
  send(call: UpstreamCall & { native: NativeRequest }): Promise<NativeResult>
}

export interface Provider {
  /** Client APIs this protocol also carries natively, without translation. */
  native?: NativeSupport
  /** Throws UpstreamError for every failure, classified so the core can decide to fail over. */
  send(call: UpstreamCall): Promise<ProviderResult>
  /** Which operations the protocol can carry (to this backend, when its settings decide). */
  supports(op: Operation, backend?: Backend): boolean
}

/**
 * A body's bytes handed over by callbacks, not a Web stream: a runtime's
 * fetch may offer one on its Response body, and a stream the gateway makes
 * offers one to the runtime's server, under BYTE_SOURCE. Each Web stream a
 * chunk crosses costs an enqueue, a read promise and its settling; a chat
 * stream passed through on Node crossed two. Measured (2026-12-06,
 * scripts/bench-stream.ts, 20-event streams, the same rounds): 5-10% of the
 * stream's CPU, ~2 µs an event (docs/benchmark.md).
 */
export interface ByteReader {
  /** One chunk; false asks for no more until resume(). */
  data(chunk: Uint8Array): boolean
  end(): void
  error(err: unknown): void
}

export interface ByteSource {
  /** From now on the bytes go to `reader` (once per source). */
  read(reader: ByteReader): void
  /** The reader wants more after saying false. */
  resume(): void
  /** The reader gives up: whatever produces the bytes is stopped. */
  cancel(reason?: Error): void
}

/**
 * The key of a ReadableStream's claim on its bytes: `stream[BYTE_SOURCE]?.()`
 * returns a ByteSource and locks the stream, or undefined when the stream is
 * read already (or its maker has no such path): then read the stream.
 */
export const BYTE_SOURCE: unique symbol = Symbol.for('kortex.byteSource')

/** The ByteSource behind `stream`, claimed (the stream is locked); undefined when there is none. */
export function claimBytes(stream: StreamBody): ByteSource | undefined {
  const claim = (stream as { [BYTE_SOURCE]?: () => ByteSource | undefined })[BYTE_SOURCE]
  return typeof claim === 'function' ? claim.call(stream) : undefined
}

/** Offers `claim` on `stream` under BYTE_SOURCE. */
export function offerBytes(stream: ReadableStream<Uint8Array>, claim: () => ByteSource | undefined): void {
  Object.defineProperty(stream, BYTE_SOURCE, { value: claim })
}

/**
 * A stream body whose Web stream is made only when something reads it as
 * one: a runtime's server that claims its bytes (BYTE_SOURCE) never has one
 * made. Node 20 spends ~15 µs of CPU making each ReadableStream (its
 * constructor's makeTransferable), and a chat stream passed through made
 * two only to carry their claims: ~30 µs of a ~900 µs stream (CPU profile,
 * scripts/bench-stream.ts load, 2026-12-06).
 */
export class LazyStream {
  #make: (() => ReadableStream<Uint8Array>) | undefined
  #claim: (() => ByteSource | undefined) | undefined
  #web: ReadableStream<Uint8Array> | undefined

  constructor(make: () => ReadableStream<Uint8Array>, claim: () => ByteSource | undefined) {
    this.#make = make
    this.#claim = claim
  }

  /** The Web stream, made on first use; once the bytes are claimed, a locked one. */
  get stream(): ReadableStream<Uint8Array> {
    if (!this.#web) {
      const make = this.#make
      this.#make = this.#claim = undefined
      this.#web = make ? make() : new ReadableStream<Uint8Array>()
      if (!make) this.#web.getReader()
    }
    return this.#web
  }

  /** Claimed already, or its Web stream read. */
  get locked(): boolean {
    return this.#web ? this.#web.locked : !this.#make
  }

  [BYTE_SOURCE](): ByteSource | undefined {
    if (this.#web) return claimBytes(this.#web)
    const claim = this.#claim
    if (!claim) return undefined
    const source = claim()
    if (source) this.#make = this.#claim = undefined
    return source
  }
}

/** A streamed body: a Web stream, or one made only if read as one. */
export type StreamBody = ReadableStream<Uint8Array> | LazyStream

/** The Web stream of a streamed body. */
export const webStream = (b: StreamBody): ReadableStream<Uint8Array> => (b instanceof LazyStream ? b.stream : b)

/**
 * Set on a runtime's Response class that takes a LazyStream as its body (and
 * makes the Web stream only when its `body` is read); elsewhere a Response
 * gets the Web stream.
 */
export const TAKES_LAZY_STREAMS: unique symbol = Symbol.for('kortex.takesLazyStreams')

/** The body to build a Response with. */
export function responseBody(b: StreamBody): ReadableStream<Uint8Array> {
  const takes = (globalThis.Response as { [TAKES_LAZY_STREAMS]?: boolean })[TAKES_LAZY_STREAMS] === true
  return (takes || !(b instanceof LazyStream) ? b : b.stream) as ReadableStream<Uint8Array>
}

/**
 * Set on a runtime fetch's Response that can hand over its body as a
 * LazyStream: `res[LAZY_BODY]()` (null for no body), the same one on every call.
 */
export const LAZY_BODY: unique symbol = Symbol.for('kortex.lazyBody')

/** A Response's body as a StreamBody: lazily where the runtime's fetch allows, else its Web stream. */
export function bodyOf(res: Response): StreamBody | null {
  const lazy = (res as { [LAZY_BODY]?: () => LazyStream | null })[LAZY_BODY]
  return typeof lazy === 'function' ? lazy.call(res) : res.body
}
