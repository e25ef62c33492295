// The upstream fetch for Node: the Web fetch contract (URL + init in,
// Response out) served by undici's dispatcher.request, which skips the
// spec machinery of Node's global fetch (~900 µs of CPU per call on slow
// machines, against ~300 µs). Bodies stream as they arrive; the signal
// aborts the request and the body; failures reject like fetch: a TypeError
// whose cause carries the code (ECONNREFUSED, UND_ERR_SOCKET...).
// Like fetch it follows redirects (unless init.redirect says otherwise) and
// decodes a compressed body, though it never asks for one.
import type { Dispatcher } from 'undici'
// undici's entry loads every API it has (fetch, WebSocket, caches, mocks):
// ~21 MB of RSS against ~12 MB for the two modules used here. The version
// is pinned exactly; a moved file fails at startup, not quietly.
// @ts-expect-error no type declarations for undici's internal modules
import UndiciAgent from 'undici/lib/dispatcher/agent.js'
// @ts-expect-error no type declarations for undici's internal modules
import undiciRequest from 'undici/lib/api/api-request.js'
import { pipeline, type Readable } from 'node:stream'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'
import type { IncomingHttpHeaders } from 'node:http'
import type { FetchLike } from '../../src/providers/types.ts'
import { LiteAbortSignal } from './abort.ts'

const NULL_BODY = new Set([101, 103, 204, 205, 304])
const REDIRECT = new Set([301, 302, 303, 307, 308])
const MAX_REDIRECTS = 20

function toHeaders(raw: IncomingHttpHeaders): Headers {
  const h = new Headers()
  for (const k in raw) {
    const v = raw[k]
    if (v === undefined) continue
    if (Array.isArray(v)) for (const x of v) h.append(k, x)
    else h.append(k, v)
  }
  return h
}

function toWebStream(body: Readable, signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(ctrl) {
      body.on('data', (chunk: Buffer) => {
        ctrl.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
        if ((ctrl.desiredSize ?? 1) <= 0) body.pause()
      })
      body.once('end', () => ctrl.close())
      body.once('error', (err) => ctrl.error(bodyError(err, signal)))
    },
    pull() {
      body.resume()
    },
    cancel(reason) {
      body.destroy(reason instanceof Error ? reason : undefined)
    },
  })
}

/** What a body read rejects with, as fetch has it: the abort reason, else TypeError('terminated'). */
const bodyError = (err: unknown, signal: AbortSignal | undefined) => (signal?.aborted ? signal.reason : new TypeError('terminated', { cause: err }))

const GlobalResponse = globalThis.Response

/** UTF-8 decoding as Response.text() does it: a leading BOM is dropped. */
function utf8(b: Buffer): string {
  const s = b.toString('utf8')
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s
}

/**
 * A Response whose body stays a Node stream until asked for: text(), json()
 * and arrayBuffer() read it directly, the Web stream is built only when
 * `.body` is used (streams), and the headers only when `.headers` is read.
 * Most upstream answers are read whole and their headers never looked at;
 * the bridge and the Headers each cost several µs per call, and so does
 * Response's own constructor, which is never run: every member is this
 * class's own, and `instanceof Response` holds through the prototype.
 */
class UpstreamResponse {
  readonly #node: Readable | null
  readonly #signal: AbortSignal | undefined
  readonly #raw: IncomingHttpHeaders
  readonly #url: URL
  readonly #redirected: boolean
  readonly #status: number
  #headers: Headers | undefined
  #web: ReadableStream<Uint8Array> | null | undefined
  #used = false

  constructor(node: Readable | null, status: number, raw: IncomingHttpHeaders, url: URL, redirected: boolean, signal: AbortSignal | undefined) {
    this.#node = node
    this.#status = status
    this.#raw = raw
    this.#url = url
    this.#redirected = redirected
    this.#signal = signal
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
    return (this.#headers ??= toHeaders(this.#raw))
  }

  get url(): string {
    return this.#url.href
  }

  get redirected(): boolean {
    return this.#redirected
  }

  get body(): ReadableStream<Uint8Array<ArrayBuffer>> | null {
    if (this.#web === undefined) this.#web = this.#node && !this.#used ? toWebStream(this.#node, this.#signal) : null
    // Node's chunks sit on ArrayBuffers; lib.dom's type wants to be told.
    return this.#web as ReadableStream<Uint8Array<ArrayBuffer>> | null
  }

  get bodyUsed(): boolean {
    return this.#web ? this.#web.locked : this.#used
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#bytes().then((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer)
  }

  async bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return new Uint8Array(await this.arrayBuffer())
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
    if (this.#web) return new GlobalResponse(this.#web).arrayBuffer().then((a) => Buffer.from(a))
    this.#used = true
    const node = this.#node
    if (!node) return Promise.resolve(Buffer.alloc(0))
    const signal = this.#signal
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = []
      node.on('data', (c: Buffer) => chunks.push(c))
      node.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)))
      node.once('error', (err) => reject(bodyError(err, signal)))
    })
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

/** The body as sent, decoded when the upstream compressed it anyway (fetch decodes too). */
function decoded(body: Readable, encoding: string | string[] | undefined): Readable {
  if (typeof encoding !== 'string') return body
  const e = encoding.trim().toLowerCase()
  const decoder = e === 'gzip' || e === 'x-gzip' ? createGunzip() : e === 'deflate' ? createInflate() : e === 'br' ? createBrotliDecompress() : undefined
  return decoder ? pipeline(body, decoder, () => {}) : body
}

const drain = (body: Readable) => body.on('error', () => {}).resume()
const fetchFailed = (cause: unknown) => new TypeError('fetch failed', { cause })

type RequestFn = (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>
const request = undiciRequest as RequestFn

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
      let res: Dispatcher.ResponseData
      try {
        res = await request.call(agent, { origin: to.origin, path: to.path, method, headers, body, signal })
      } catch (err) {
        if (signal?.aborted) throw signal.reason
        throw fetchFailed(err)
      }
      const status = res.statusCode
      const location = REDIRECT.has(status) ? res.headers.location : undefined
      if (typeof location === 'string' && init.redirect !== 'manual') {
        drain(res.body)
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
        drain(res.body)
        return new UpstreamResponse(null, status, res.headers, to.url, hops > 0, signal) as unknown as Response
      }
      return new UpstreamResponse(decoded(res.body, res.headers['content-encoding']), status, res.headers, to.url, hops > 0, signal) as unknown as Response
    }
  }
}
