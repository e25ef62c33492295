// The upstream fetch for Node: the Web fetch contract (URL + init in,
// Response out) served by undici's dispatcher with a handler of our own.
// It skips the spec machinery of Node's global fetch (~900 µs of CPU per
// call on slow machines, against ~300 µs), and undici's request() API too:
// that one wraps every answer in a Node stream and an async resource, where
// most upstream answers here are read whole at once. Bodies still stream
// as they arrive when asked for as a stream; the signal aborts the request
// and the body; failures reject like fetch: a TypeError whose cause carries
// the code (ECONNREFUSED, UND_ERR_SOCKET...).
// Like fetch it follows redirects (unless init.redirect says otherwise) and
// decodes a compressed body, though it never asks for one.
import type { Dispatcher } from 'undici'
// undici's entry loads every API it has (fetch, WebSocket, caches, mocks):
// ~21 MB of RSS against ~12 MB for the modules used here. The version is
// pinned exactly; a moved file fails at startup, not quietly.
// @ts-expect-error no type declarations for undici's internal modules
import UndiciAgent from 'undici/lib/dispatcher/agent.js'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'
import { LAZY_BODY, LazyStream, offerBytes, type FetchLike } from '../../src/providers/types.ts'
import { LiteAbortSignal } from './abort.ts'
import { headersFromRaw } from './response.ts'

const NULL_BODY = new Set([101, 103, 204, 205, 304])
const REDIRECT = new Set([301, 302, 303, 307, 308])
const MAX_REDIRECTS = 20
/** Bytes held for a body nobody reads yet before the upstream socket is paused. */
const HIGH_WATER = 64 * 1024

const fetchFailed = (cause: unknown) => new TypeError('fetch failed', { cause })
/** What a body read rejects with, as fetch has it: the abort reason, else TypeError('terminated'). */
const bodyError = (err: unknown, signal: AbortSignal | undefined) => (signal?.aborted ? signal.reason : new TypeError('terminated', { cause: err }))
const concat = (chunks: Buffer[]) => (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks))

/** Where a body's bytes go once something reads them. `data` returns false to say "enough for now". */
interface Reader {
  data(chunk: Buffer): boolean
  end(): void
  error(err: unknown): void
}
const DISCARD: Reader = { data: () => true, end() {}, error() {} }

/** What a body's reader can ask of where the bytes come from. */
interface BodyControl {
  resumeBody(): void
  cancelBody(reason: Error | undefined): void
}

/**
 * A response body as it arrives: chunks are held until a reader attaches
 * (a whole read, a Web stream, or nothing for a body to drop), then handed
 * straight to it. Past HIGH_WATER unread bytes, or when a stream reader has
 * enough, the source is paused until the reader asks again.
 */
const ENDED = { ended: true } as const

class BodySource {
  #chunks: Buffer[] = []
  #size = 0
  #reader: Reader | undefined
  #paused = false
  /** How the body finished: still coming, ended, or failed with its error. */
  #done: undefined | { ended: true } | { error: unknown }

  readonly #control: BodyControl

  constructor(control: BodyControl) {
    this.#control = control
  }

  // The producer's side.
  push(chunk: Buffer): boolean {
    if (this.#reader) {
      if (this.#reader.data(chunk)) return true
    } else {
      this.#chunks.push(chunk)
      if ((this.#size += chunk.byteLength) <= HIGH_WATER) return true
    }
    this.#paused = true
    return false
  }
  end(): void {
    this.#done = ENDED
    this.#reader?.end()
  }
  fail(err: unknown): void {
    if (this.#done) return
    this.#done = { error: err }
    this.#reader?.error(err)
  }

  // The reader's side.
  /** The whole body, at once when it is already in. */
  whole(): Promise<Buffer> {
    const done = this.#done
    if (done) return 'error' in done ? Promise.reject(done.error) : Promise.resolve(concat(this.#chunks))
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = []
      this.read({ data: (c) => (chunks.push(c), true), end: () => resolve(concat(chunks)), error: reject })
    })
  }
  /**
   * A Web stream of the body; cancelling it aborts the upstream request. It
   * holds up to HIGH_WATER bytes before the socket is paused, as a body read
   * whole does: with the default of one chunk, every event that arrived while
   * the reader was still busy with the last one paused and resumed the
   * upstream socket (a readStop and readStart each).
   */
  stream(): ReadableStream<Uint8Array> {
    // Attached on the first pull that a read asks for, not at once: until then the body's reader
    // may claim the bytes as callbacks instead (BYTE_SOURCE), and the Web stream is never read.
    let attached = false
    let claimed = false
    const web: ReadableStream<Uint8Array> = new ReadableStream<Uint8Array>(
      {
        pull: (ctrl) => {
          if (attached) return this.resume()
          if (claimed || !web.locked) return
          attached = true
          this.read({
            data: (c) => {
              ctrl.enqueue(new Uint8Array(c.buffer, c.byteOffset, c.byteLength))
              return (ctrl.desiredSize ?? 1) > 0
            },
            end: () => ctrl.close(),
            error: (e) => ctrl.error(e),
          })
        },
        cancel: (reason) => this.cancel(reason instanceof Error ? reason : undefined),
      },
      { highWaterMark: HIGH_WATER, size: (c) => c.byteLength },
    )
    offerBytes(web, () => {
      if (attached || claimed || web.locked) return undefined
      claimed = true
      web.getReader()
      return this
    })
    return web
  }
  /** The body as a LazyStream: claimed by the gateway's own stream with no Web stream made. */
  lazy(): LazyStream {
    return new LazyStream(
      () => this.stream(),
      () => this,
    )
  }
  /** Reads and drops the rest (a redirect's body, a body nobody will read). */
  discard(): void {
    this.read(DISCARD)
  }
  /** From now on chunks go to `reader`, those held first. */
  read(reader: Reader): void {
    const held = this.#chunks
    this.#chunks = []
    this.#size = 0
    for (const c of held) reader.data(c)
    const done = this.#done
    if (done) return 'error' in done ? reader.error(done.error) : reader.end()
    this.#reader = reader
    this.resume()
  }
  /** The reader wants more. */
  resume(): void {
    if (!this.#paused) return
    this.#paused = false
    this.#control.resumeBody()
  }
  /** The reader gives up: the upstream request is aborted. */
  cancel(reason: Error | undefined): void {
    this.#reader = DISCARD
    this.#control.cancelBody(reason)
  }
}

/**
 * One upstream exchange, as undici's dispatcher calls a handler: the head
 * settles the promise `fetch` returns, the body goes to a BodySource. An
 * abort, before or during the body, aborts the request. The exchange is its
 * own abort listener (handleEvent) and its body's control: a closure made
 * here kept each exchange alive through two young-generation GCs, and the
 * old generation filled with them (~13x the promoted bytes).
 */
class Exchange implements BodyControl {
  readonly head: Promise<Exchange>
  status = 0
  rawHeaders: Buffer[] = []
  readonly body: BodySource = new BodySource(this)
  #resolve!: (e: Exchange) => void
  #reject!: (err: unknown) => void
  #abort: ((err: Error) => void) | undefined
  #resumeSocket: (() => void) | undefined
  #done = false
  #headed = false
  readonly #signal: AbortSignal | undefined

  constructor(signal: AbortSignal | undefined) {
    this.head = new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    this.#signal = signal
    signal?.addEventListener('abort', this, { once: true })
  }

  /** The signal aborted. */
  handleEvent(): void {
    this.#cancel(this.#signal!.reason)
  }

  resumeBody(): void {
    this.#resumeSocket?.()
  }

  cancelBody(reason: Error | undefined): void {
    this.#cancel(reason)
  }

  #cancel(reason: unknown): void {
    if (this.#done) return
    const err = reason instanceof Error ? reason : new Error('aborted', { cause: reason })
    if (this.#abort) this.#abort(err)
    else this.onError(err) // not yet connected: undici calls onConnect later, and finds it aborted
  }

  #finish(): void {
    this.#done = true
    this.#signal?.removeEventListener('abort', this)
  }

  onConnect(abort: (err: Error) => void): void {
    if (this.#done) return abort(new Error('aborted'))
    this.#abort = abort
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    if (status < 200) return true
    this.status = status
    this.rawHeaders = raw
    this.#resumeSocket = resume
    this.#headed = true
    this.#resolve(this)
    return true
  }

  onData(chunk: Buffer): boolean {
    return this.body.push(chunk)
  }

  onComplete(): void {
    this.#finish()
    this.body.end()
  }

  onError(err: Error): void {
    if (this.#done) return
    this.#finish()
    if (this.#headed) this.body.fail(bodyError(err, this.#signal))
    else this.#reject(this.#signal?.aborted ? this.#signal.reason : fetchFailed(err))
  }
}

/** The value of one response header (names compared without case), without building them all. */
function rawHeader(raw: Buffer[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!
    if (k.length === name.length && k.toString('latin1').toLowerCase() === name) return raw[i + 1]!.toString('latin1')
  }
  return undefined
}

const GlobalResponse = globalThis.Response

/** UTF-8 decoding as Response.text() does it: a leading BOM is dropped. */
function utf8(b: Buffer): string {
  const s = b.toString('utf8')
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s
}

/**
 * A Response over a BodySource: text(), json() and arrayBuffer() take the
 * bytes as they are, the Web stream is built only when `.body` is used
 * (streams), and the headers only when `.headers` is read. Most upstream
 * answers are read whole and their headers never looked at; the bridge and
 * the Headers each cost several µs per call, and so does Response's own
 * constructor, which is never run: every member is this class's own, and
 * `instanceof Response` holds through the prototype.
 */
class UpstreamResponse {
  readonly #source: BodySource | null
  readonly #raw: Buffer[]
  readonly #url: URL
  readonly #redirected: boolean
  readonly #status: number
  #headers: Headers | undefined
  #web: ReadableStream<Uint8Array> | null | undefined
  #lazy: LazyStream | null | undefined
  #used = false

  constructor(source: BodySource | null, status: number, raw: Buffer[], url: URL, redirected: boolean) {
    this.#source = source
    this.#status = status
    this.#raw = raw
    this.#url = url
    this.#redirected = redirected
  }

  get status(): number {
    return this.#status
  }

  get ok(): boolean {
    return this.#status >= 200 && this.#status < 300
  }

  get statusText(): string {
    return ''
  }

  get type(): ResponseType {
    return 'default'
  }

  get headers(): Headers {
    // Lite: ~1-3 µs less per answer than undici's parseHeaders into a spec Headers (measured 2026-12-06).
    return (this.#headers ??= headersFromRaw(this.#raw))
  }

  get url(): string {
    return this.#url.href
  }

  get redirected(): boolean {
    return this.#redirected
  }

  get body(): ReadableStream<Uint8Array<ArrayBuffer>> | null {
    // Made through the LazyStream, which then knows its bytes are the Web stream's.
    if (this.#web === undefined) this.#web = this[LAZY_BODY]()?.stream ?? null
    // Node's chunks sit on ArrayBuffers; lib.dom's type wants to be told.
    return this.#web as ReadableStream<Uint8Array<ArrayBuffer>> | null
  }

  /** The body as a LazyStream (src/providers/types.ts), the same one on each call; null for none. */
  [LAZY_BODY](): LazyStream | null {
    if (this.#lazy === undefined) this.#lazy = this.#source && !this.#used ? this.#source.lazy() : null
    return this.#lazy
  }

  get bodyUsed(): boolean {
    if (this.#web) return this.#web.locked
    return this.#lazy ? this.#lazy.locked : this.#used
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#bytes().then((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer)
  }

  /** The bytes as they came, not copied (a Buffer over them). */
  bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return this.#bytes() as Promise<Uint8Array<ArrayBuffer>>
  }

  text(): Promise<string> {
    return this.#bytes().then(utf8)
  }

  json(): Promise<any> {
    return this.text().then(JSON.parse)
  }

  async blob(): Promise<Blob> {
    return new Blob([await this.arrayBuffer()], { type: this.headers.get('content-type') ?? '' })
  }

  async formData(): Promise<FormData> {
    return new GlobalResponse(await this.arrayBuffer(), { headers: this.headers }).formData()
  }

  clone(): Response {
    if (this.bodyUsed) throw new TypeError('Response.clone: Body has already been consumed.')
    const body = this.body
    if (!body) return new GlobalResponse(null, { status: this.status, headers: this.headers })
    const [mine, theirs] = body.tee()
    this.#web = mine
    return new GlobalResponse(theirs, { status: this.status, headers: this.headers })
  }

  #bytes(): Promise<Buffer> {
    if (this.bodyUsed) return Promise.reject(new TypeError('Body is unusable: Body has already been read'))
    if (this.#lazy) void this.body // handed out as a LazyStream: read through its Web stream
    if (this.#web) return new GlobalResponse(this.#web).arrayBuffer().then((a) => Buffer.from(a))
    this.#used = true
    return this.#source ? this.#source.whole() : Promise.resolve(Buffer.alloc(0))
  }

  [Symbol.for('nodejs.util.inspect.custom')]() {
    return `Response (upstream) ${this.#status} ${this.#url.href}`
  }
}
Object.setPrototypeOf(UpstreamResponse.prototype, GlobalResponse.prototype)

interface Target {
  url: URL
  origin: string
  path: string
}
const target = (url: URL): Target => ({ url, origin: url.origin, path: url.pathname + url.search })

// Backends are few and their URLs repeat: parse each once (the URLs are never handed out to be changed).
const parsedUrls = new Map<string, Target>()
function parseUrl(s: string): Target {
  let t = parsedUrls.get(s)
  if (!t) {
    t = target(new URL(s))
    if (parsedUrls.size >= 1000) parsedUrls.clear()
    parsedUrls.set(s, t)
  }
  return t
}

/** The body as sent, or decoded when the upstream compressed it anyway (fetch decodes too). */
function decoded(ex: Exchange, signal: AbortSignal | undefined): BodySource {
  const encoding = rawHeader(ex.rawHeaders, 'content-encoding')?.trim().toLowerCase()
  const decoder =
    encoding === 'gzip' || encoding === 'x-gzip' ? createGunzip() : encoding === 'deflate' ? createInflate() : encoding === 'br' ? createBrotliDecompress() : undefined
  if (!decoder) return ex.body
  const src = ex.body
  const out = new BodySource({
    resumeBody: () => decoder.resume(),
    cancelBody: (reason) => {
      decoder.destroy()
      src.cancel(reason)
    },
  })
  decoder.on('data', (c: Buffer) => {
    if (!out.push(c)) decoder.pause()
  })
  decoder.on('end', () => out.end())
  decoder.on('error', (err) => out.fail(bodyError(err, signal)))
  decoder.on('drain', () => src.resume())
  src.read({
    data: (c) => decoder.write(c),
    end: () => decoder.end(),
    error: (err) => {
      out.fail(err)
      decoder.destroy()
    },
  })
  return out
}

export function createUpstreamFetch(agent: Dispatcher = new (UndiciAgent as typeof import('undici').Agent)({ keepAliveTimeout: 30_000, connections: 256 })): FetchLike {
  return async (input, init = {}) => {
    // Not used by the core; the contract kept whole (Node's fetch wants a real AbortSignal).
    if (input instanceof Request) return fetch(input, init.signal instanceof LiteAbortSignal ? { ...init, signal: init.signal.real() } : init)
    const signal = init.signal ?? undefined
    if (signal?.aborted) throw signal.reason
    let to = typeof input === 'string' ? parseUrl(input) : target(input)
    let method = (init.method ?? 'GET').toUpperCase() as Dispatcher.HttpMethod
    let headers = init.headers instanceof Headers ? Object.fromEntries(init.headers) : (init.headers as Record<string, string> | undefined)
    let body = (init.body as string | Uint8Array | null | undefined) ?? null
    for (let hops = 0; ; hops++) {
      const ex = new Exchange(signal)
      agent.dispatch({ origin: to.origin, path: to.path, method, headers, body }, ex as unknown as Dispatcher.DispatchHandler)
      await ex.head
      const status = ex.status
      const location = REDIRECT.has(status) ? rawHeader(ex.rawHeaders, 'location') : undefined
      if (location !== undefined && init.redirect !== 'manual') {
        ex.body.discard()
        if (init.redirect === 'error') throw fetchFailed(new Error(`unexpected redirect to ${location}`))
        if (hops >= MAX_REDIRECTS) throw fetchFailed(new Error('redirect count exceeded'))
        const next = new URL(location, to.url)
        if (next.origin !== to.origin && headers) headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'))
        if (status === 303 ? method !== 'HEAD' : (status === 301 || status === 302) && method === 'POST') {
          method = 'GET'
          body = null
          if (headers) headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !/^content-/i.test(k)))
        }
        to = target(next)
        continue
      }
      if (NULL_BODY.has(status) || method === 'HEAD') {
        ex.body.discard()
        return new UpstreamResponse(null, status, ex.rawHeaders, to.url, hops > 0) as unknown as Response
      }
      return new UpstreamResponse(decoded(ex, signal), status, ex.rawHeaders, to.url, hops > 0) as unknown as Response
    }
  }
}
