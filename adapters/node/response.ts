// Responses on Node: a Response that keeps what it was built from (a string,
// bytes, a stream or nothing, a status and a header record) so the server
// writes it straight to the socket, and the writer itself. A spec Response
// with a string body builds a ReadableStream at once (~20 µs); this one
// builds nothing unless something other than the server reads it.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { headerName } from './header-name.ts'
import { LazyStream, TAKES_LAZY_STREAMS, claimBytes, webStream, type ByteSource, type StreamBody } from '../../src/providers/types.ts'

const GlobalResponse = globalThis.Response
const GlobalHeaders = globalThis.Headers
const TEXT = 'text/plain;charset=UTF-8'
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304])

type LiteBody = string | Uint8Array | ReadableStream<Uint8Array> | LazyStream | null
type LiteState = { status: number; body: LiteBody; init: Record<string, string> | undefined; headers: Headers | undefined }

const BAD_VALUE = /[\0\r\n]/
const isStream = (b: unknown): b is StreamBody => b instanceof ReadableStream || b instanceof LazyStream

function headerValue(value: string): string {
  let v = String(value)
  // Leading and trailing HTTP whitespace goes, as Headers does it.
  if (/^[\t\n\r ]|[\t\n\r ]$/.test(v)) v = v.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '')
  if (BAD_VALUE.test(v)) throw new TypeError(`Headers: invalid header value for a header`)
  return v
}

let recordOf: (h: object) => Record<string, string | string[]> | undefined

/**
 * The headers of a LiteResponse: a plain record with lowercase names, which
 * the server hands to writeHead as it is. Behaves as Headers does (names
 * checked and lowercased, values trimmed and checked, repeated values joined
 * with ", ", set-cookie kept apart, iteration sorted); `instanceof Headers`
 * holds. Building and iterating a spec Headers costs ~5 µs per response.
 */
class LiteHeaders {
  readonly #r: Record<string, string | string[]> = Object.create(null)

  constructor(init?: Record<string, string>) {
    if (init) for (const k in init) this.append(k, init[k]!)
  }

  get(name: string): string | null {
    const v = this.#r[headerName(name)]
    return v === undefined ? null : typeof v === 'string' ? v : v.join(', ')
  }
  has(name: string): boolean {
    return this.#r[headerName(name)] !== undefined
  }
  set(name: string, value: string): void {
    const k = headerName(name)
    const v = headerValue(value)
    this.#r[k] = k === 'set-cookie' ? [v] : v
  }
  append(name: string, value: string): void {
    const k = headerName(name)
    const v = headerValue(value)
    const prev = this.#r[k]
    if (k === 'set-cookie') this.#r[k] = prev === undefined ? [v] : [...(prev as string[]), v]
    else this.#r[k] = prev === undefined ? v : `${prev as string}, ${v}`
  }
  delete(name: string): void {
    delete this.#r[headerName(name)]
  }
  getSetCookie(): string[] {
    const c = this.#r['set-cookie']
    return c ? [...(c as string[])] : []
  }
  *entries(): HeadersIterator<[string, string]> {
    for (const k of Object.keys(this.#r).sort()) {
      const v = this.#r[k]!
      if (typeof v === 'string') yield [k, v]
      else for (const c of v) yield [k, c]
    }
  }
  *keys(): HeadersIterator<string> {
    for (const [k] of this.entries()) yield k
  }
  *values(): HeadersIterator<string> {
    for (const [, v] of this.entries()) yield v
  }
  forEach(cb: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this as unknown as Headers)
  }
  [Symbol.iterator]() {
    return this.entries()
  }
  [Symbol.for('nodejs.util.inspect.custom')]() {
    return `Headers (lite) ${JSON.stringify(this.#r)}`
  }

  static {
    recordOf = (h) => (#r in h ? (h as LiteHeaders).#r : undefined)
  }
}
Object.setPrototypeOf(LiteHeaders.prototype, GlobalHeaders.prototype)

/** Headers from undici's raw list (name, value, name, value...), as a LiteHeaders: an upstream's answer read by the core (isEventStream) builds no spec Headers. */
export function headersFromRaw(raw: Buffer[]): Headers {
  const h = new LiteHeaders()
  for (let i = 0; i + 1 < raw.length; i += 2) h.append(raw[i]!.toString('latin1'), raw[i + 1]!.toString('latin1'))
  return h as unknown as Headers
}

let stateOf: (r: object) => LiteState | undefined

/**
 * Installed as the global Response by the Node server (Hono and the core
 * build theirs with `new Response`). `instanceof Response` holds for it and
 * for spec Responses alike. Bodies, inits and statuses it does not keep
 * (Blob, FormData, a Headers init, statusText...) make a spec Response at
 * once, so every check the spec makes still happens.
 */
export class LiteResponse {
  #lite: LiteState | undefined
  #spec: Response | undefined

  constructor(body?: BodyInit | null, init?: ResponseInit) {
    const status = init?.status ?? 200
    if (
      (body == null || typeof body === 'string' || body instanceof Uint8Array || (isStream(body) && !body.locked)) &&
      (init === undefined || (init.statusText === undefined && (init.headers === undefined || isRecord(init.headers)))) &&
      Number.isInteger(status) &&
      status >= 200 &&
      status <= 599 &&
      (body == null || !NULL_BODY_STATUS.has(status))
    ) {
      this.#lite = { status, body: (body as LiteBody | undefined) ?? null, init: init?.headers as Record<string, string> | undefined, headers: undefined }
    } else {
      this.#spec = new GlobalResponse(body instanceof LazyStream ? body.stream : body, init)
    }
  }

  #real(): Response {
    if (!this.#spec) {
      const l = this.#lite!
      this.#spec = new GlobalResponse((l.body instanceof LazyStream ? l.body.stream : l.body) as BodyInit | null, { status: l.status, headers: this.headers })
      this.#lite = undefined
    }
    return this.#spec
  }

  get headers(): Headers {
    const l = this.#lite
    if (!l) return this.#spec!.headers
    if (!l.headers) {
      const h = new LiteHeaders(l.init)
      if (typeof l.body === 'string' && !h.has('content-type')) h.set('content-type', TEXT)
      l.headers = h as unknown as Headers
    }
    return l.headers
  }

  get status(): number {
    return this.#lite ? this.#lite.status : this.#spec!.status
  }

  get ok(): boolean {
    const s = this.status
    return s >= 200 && s < 300
  }

  get statusText(): string {
    return this.#lite ? '' : this.#spec!.statusText
  }

  get type(): ResponseType {
    return this.#lite ? 'default' : this.#spec!.type
  }

  get url(): string {
    return this.#lite ? '' : this.#spec!.url
  }

  get redirected(): boolean {
    return this.#lite ? false : this.#spec!.redirected
  }

  get body(): ReadableStream<Uint8Array> | null {
    const l = this.#lite
    if (l && (l.body === null || l.body instanceof ReadableStream)) return l.body
    if (l && l.body instanceof LazyStream) return l.body.stream
    return this.#real().body
  }

  get bodyUsed(): boolean {
    const l = this.#lite
    if (!l) return this.#spec!.bodyUsed
    return isStream(l.body) ? l.body.locked : false
  }

  arrayBuffer() {
    return this.#real().arrayBuffer()
  }
  blob() {
    return this.#real().blob()
  }
  bytes() {
    return (this.#real() as Response & { bytes(): Promise<Uint8Array> }).bytes()
  }
  formData() {
    return this.#real().formData()
  }
  json() {
    return this.#real().json()
  }
  text() {
    return this.#real().text()
  }
  clone() {
    return this.#real().clone()
  }

  /** A LazyStream body is kept as it is: the server claims its bytes, and `body` makes its Web stream. */
  static readonly [TAKES_LAZY_STREAMS] = true

  static [Symbol.hasInstance](x: unknown): boolean {
    return x instanceof GlobalResponse
  }

  [Symbol.for('nodejs.util.inspect.custom')]() {
    return `Response (lite) ${this.status}`
  }

  static {
    stateOf = (r) => (#lite in r ? (r as LiteResponse).#lite : undefined)
  }
}
Object.setPrototypeOf(LiteResponse, GlobalResponse)
Object.setPrototypeOf(LiteResponse.prototype, GlobalResponse.prototype)

function isRecord(h: HeadersInit): h is Record<string, string> {
  if (typeof h !== 'object' || h === null || Array.isArray(h) || h instanceof GlobalHeaders) return false
  const proto = Object.getPrototypeOf(h)
  if (proto !== Object.prototype && proto !== null) return false
  for (const k in h) if (typeof (h as Record<string, unknown>)[k] !== 'string') return false
  return true
}

/** Replaces the global Response with LiteResponse (idempotent). */
export function installLiteResponse(): void {
  if (globalThis.Response !== (LiteResponse as unknown as typeof Response)) {
    Object.defineProperty(globalThis, 'Response', { value: LiteResponse, writable: true, configurable: true })
  }
}

/** Node's header object for a Headers: names as they are, set-cookie kept apart. */
function outgoingHeaders(h: Headers): OutgoingHttpHeaders {
  // A LiteHeaders record goes out as it is: the response is being written, and
  // the length added to it is the one written.
  const r = recordOf(h)
  if (r) return r
  const out: OutgoingHttpHeaders = {}
  h.forEach((v, k) => {
    if (k !== 'set-cookie') out[k] = v
  })
  const cookies = h.getSetCookie()
  if (cookies.length) out['set-cookie'] = cookies
  return out
}

/** The largest unread body whose connection is kept: it arrives well within the drain's deadline. */
const DRAIN_SURE = 1024 * 1024

/** Writes a Response to Node; resolves when the body has been handed over. */
export function writeResponse(res: Response, out: ServerResponse, incoming: IncomingMessage): Promise<void> | void {
  const lite = stateOf(res)
  let status: number
  let body: LiteBody
  let headers: OutgoingHttpHeaders
  let lowercase = false // every name in `headers` is lowercase, so `in` finds any spelling
  // Answered before a large body (or one of unknown length) was read: the server drains it only
  // briefly before closing the socket (server.ts), so the client must not reuse it. A small one
  // drains at once and the connection serves the next request.
  if (!incoming.complete && !(Number(incoming.headers['content-length']) <= DRAIN_SURE)) out.shouldKeepAlive = false
  if (lite) {
    status = lite.status
    body = lite.body
    if (lite.headers) {
      headers = outgoingHeaders(lite.headers)
      lowercase = recordOf(lite.headers) !== undefined
    } else {
      // Copied by a loop: object spread of a record this size costs a few µs.
      headers = {}
      const init = lite.init
      if (init) for (const k in init) headers[k] = init[k]
      if (typeof body === 'string' && !hasName(headers, 'content-type')) headers['content-type'] = TEXT
    }
  } else {
    status = res.status
    body = res.body
    headers = outgoingHeaders(res.headers)
    lowercase = true // Headers iterate lowercase names
  }
  if (incoming.method === 'HEAD' || NULL_BODY_STATUS.has(status)) {
    if (isStream(body)) webStream(body).cancel().catch(() => {})
    out.writeHead(status, headers)
    out.end()
    return
  }
  if (body === null || typeof body === 'string' || body instanceof Uint8Array) {
    if (lowercase ? !('content-length' in headers || 'transfer-encoding' in headers) : !hasName(headers, 'content-length') && !hasName(headers, 'transfer-encoding')) {
      headers['content-length'] = String(body === null ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength)
    }
    out.writeHead(status, headers)
    // A string body goes out in the same write as the head.
    out.end(body ?? undefined)
    return
  }
  out.writeHead(status, headers)
  return pipeStream(body, out, headers)
}

function hasName(h: OutgoingHttpHeaders, lower: string): boolean {
  if (lower in h) return true
  for (const k in h) if (k.length === lower.length && k.toLowerCase() === lower) return true
  return false
}

/** Ends a response whose body is still streaming (the server shutting down): `event` goes last if it is an event stream, and the body is cancelled. */
export const kEndStream = Symbol('kortex.endStream')
export type Streaming = ServerResponse & { [kEndStream]?: (event: Uint8Array) => void }

/** Whether the response is an event stream (its last event then says why it was cut). */
const isEventStream = (headers: OutgoingHttpHeaders) =>
  String(headers['content-type'] ?? Object.entries(headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1]).startsWith('text/event-stream')

/**
 * Each chunk is written as it arrives (no buffering); a client that goes away cancels the stream.
 * A body that offers its bytes as callbacks (BYTE_SOURCE: a stream the gateway passes through)
 * is written from them, with no read of a Web stream between (see pipeBytes).
 */
function pipeStream(body: StreamBody, out: Streaming, headers: OutgoingHttpHeaders): Promise<void> {
  const bytes = claimBytes(body)
  if (bytes) return pipeBytes(bytes, out, headers)
  const reader = webStream(body).getReader()
  return new Promise<void>((resolve) => {
    let finished = false
    // The head goes out with the first chunk when that is there at once (a stream's first content
    // is): one write to the socket, not two. Else it goes out now, so the client knows it is
    // answered while it waits.
    const head = setImmediate(() => out.flushHeaders())
    const finish = () => {
      if (finished) return
      finished = true
      clearImmediate(head)
      out.off('close', onClose)
      out[kEndStream] = undefined
      resolve()
    }
    out[kEndStream] = (event) => {
      if (finished) return
      finish()
      reader.cancel(new Error('The gateway is shutting down')).catch(() => {})
      out.end(isEventStream(headers) ? event : undefined)
    }
    const onClose = () => {
      if (!finished) reader.cancel(new Error('Client connection prematurely closed.')).catch(() => {})
      finish()
    }
    out.on('close', onClose)
    const fail = (err: unknown) => {
      // The head is out: the only way to tell the client is to cut the connection.
      out.destroy(err instanceof Error ? err : new Error(String(err)))
      finish()
    }
    const pump = (): void => {
      reader.read().then(({ done, value }) => {
        clearImmediate(head)
        if (finished) return
        if (done) {
          out.end()
          finish()
        } else if (out.write(value)) pump()
        else out.once('drain', pump)
      }, fail)
    }
    pump()
  })
}

/**
 * pipeStream for a body read by callbacks: each chunk is written from the
 * callback that brings it, and the source waits while the socket's buffer
 * is full. Measured against reading the same body as a Web stream
 * (2026-12-06, 20-event SSE streams, scripts/bench-stream.ts): see
 * docs/benchmark.md.
 */
function pipeBytes(bytes: ByteSource, out: Streaming, headers: OutgoingHttpHeaders): Promise<void> {
  return new Promise<void>((resolve) => {
    let finished = false
    let wrote = false
    // The head goes out with the first chunk when that is there at once, as in pipeStream.
    const head = setImmediate(() => out.flushHeaders())
    const onDrain = () => bytes.resume()
    const finish = () => {
      if (finished) return
      finished = true
      clearImmediate(head)
      out.off('close', onClose)
      out.off('drain', onDrain)
      out[kEndStream] = undefined
      resolve()
    }
    out[kEndStream] = (event) => {
      if (finished) return
      finish()
      bytes.cancel(new Error('The gateway is shutting down'))
      out.end(isEventStream(headers) ? event : undefined)
    }
    const onClose = () => {
      if (!finished) bytes.cancel(new Error('Client connection prematurely closed.'))
      finish()
    }
    out.on('close', onClose)
    out.on('drain', onDrain)
    bytes.read({
      data: (chunk) => {
        if (finished) return true
        if (!wrote) {
          wrote = true
          clearImmediate(head)
        }
        return out.write(chunk)
      },
      end: () => {
        if (finished) return
        out.end()
        finish()
      },
      error: (err) => {
        if (finished) return
        // The head is out: the only way to tell the client is to cut the connection.
        out.destroy(err instanceof Error ? err : new Error(String(err)))
        finish()
      },
    })
  })
}
