// The inbound Request, built lazily over Node's IncomingMessage: the core
// reads a few headers, the URL, the signal and the body as text, and each of
// those is served straight from the IncomingMessage. A spec Request (with
// its stream bridge, ~15 µs) is built only if something else is asked for.
import type { IncomingMessage } from 'node:http'
import { LiteAbortSignal } from './abort.ts'
import { headerName } from './header-name.ts'
import { GatewayError } from '../../src/api/errors.ts'

const GlobalRequest = globalThis.Request
const GlobalHeaders = globalThis.Headers
// A host and a path that make a valid URL as they are; anything else goes through `new URL`.
const PLAIN_HOST = /^[a-z0-9._-]+(?::\d{1,5})?$/
const PLAIN_PATH = /^\/[!#$&-;=?-[\]_a-z~]*$/
const DOT_SEGMENT = /\/\.\.?(?:[/?#]|$)/

/** Where the server keeps a response's IncomingRequest (to abort it when the response is cut). */
export const kRequest = Symbol('kortex.request')

/** Thrown for a request no URL can be built from; the server answers 400. */
export class BadRequestLine extends Error {}

/**
 * Headers over IncomingMessage.headers. The server joins repeated fields with
 * ", " (joinDuplicateHeaders), as Headers.get does, so get/has read Node's
 * object directly; any other use builds a real Headers from rawHeaders once.
 */
class IncomingHeaders {
  readonly #incoming: IncomingMessage
  #native: Headers | undefined

  constructor(incoming: IncomingMessage) {
    this.#incoming = incoming
  }

  get #real(): Headers {
    if (!this.#native) {
      const h = new GlobalHeaders()
      const raw = this.#incoming.rawHeaders
      for (let i = 0; i < raw.length; i += 2) h.append(raw[i]!, raw[i + 1]!)
      this.#native = h
    }
    return this.#native
  }

  get(name: string): string | null {
    if (this.#native) return this.#native.get(name)
    const k = headerName(name)
    const v = this.#incoming.headers[k]
    if (typeof v === 'string') return v
    if (Array.isArray(v) && Object.hasOwn(this.#incoming.headers, k)) return v.join(', ')
    return k === '__proto__' ? this.#real.get(name) : null
  }

  has(name: string): boolean {
    return this.get(name) !== null
  }

  getSetCookie(): string[] {
    return this.#real.getSetCookie()
  }
  set(name: string, value: string): void {
    this.#real.set(name, value)
  }
  append(name: string, value: string): void {
    this.#real.append(name, value)
  }
  delete(name: string): void {
    this.#real.delete(name)
  }
  forEach(cb: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    this.#real.forEach((v, k) => cb.call(thisArg, v, k, this as unknown as Headers))
  }
  entries() {
    return this.#real.entries()
  }
  keys() {
    return this.#real.keys()
  }
  values() {
    return this.#real.values()
  }
  [Symbol.iterator]() {
    return this.#real.entries()
  }
  [Symbol.for('nodejs.util.inspect.custom')]() {
    return this.#real
  }
}
Object.setPrototypeOf(IncomingHeaders.prototype, GlobalHeaders.prototype)

const ABORTED = 'Client connection prematurely closed.'

/**
 * A body read that failed because the client went away (or its connection
 * broke): a GatewayError, so the gateway answers it like any refusal (to
 * nobody) instead of logging an internal error. 499 as nginx names it.
 */
export const clientGone = (cause?: unknown) =>
  Object.assign(new GatewayError(499, 'The client closed the connection before its request arrived whole.', 'invalid_request_error', 'client_closed_request'), { cause })

/** A body that stopped arriving: the client is answered 408 and the connection closed. */
const bodyStalled = (ms: number) =>
  new GatewayError(408, `The request body stopped arriving: nothing came for ${ms} ms.`, 'invalid_request_error', 'request_timeout')

// A body being read: shared listeners find it on the message (`this`), so a
// read makes no closures, and it settles once, so nothing is removed after:
// the message is done with when its body is.
const kReading = Symbol('kortex.reading')
type Reading = IncomingMessage & {
  [kReading]?: { chunks: Buffer[]; resolve: (b: Buffer) => void; reject: (e: Error) => void; idle: NodeJS.Timeout | undefined; idleMs: number }
}
function settle(m: Reading, err?: Error) {
  const r = m[kReading]
  if (!r) return
  m[kReading] = undefined
  clearTimeout(r.idle)
  if (err) r.reject(err)
  else r.resolve(r.chunks.length === 1 ? r.chunks[0]! : Buffer.concat(r.chunks))
}
function onBodyData(this: Reading, c: Buffer) {
  const r = this[kReading]
  if (!r) return
  r.chunks.push(c)
  r.idle?.refresh()
}
function onBodyEnd(this: Reading) {
  settle(this)
}
function onBodyError(this: Reading, err: Error) {
  settle(this, clientGone(err))
}
function onBodyClose(this: Reading) {
  if (!this.readableEnded) onBodyError.call(this, this.errored ?? new Error(ABORTED))
}
function onBodyIdle(m: Reading) {
  settle(m, bodyStalled(m[kReading]?.idleMs ?? 0))
}
// The idle timer starts after this turn, and only for a body still arriving:
// a read starts inside the 'request' event, before the parser has taken the
// body bytes that came in the same read as the headers, so such a body is
// whole by then. A timer set and cleared per request cost ~3 µs of a proxied
// request's CPU (CPU profile, plain bench, 2026-12-06); a nextTick ~0.2. A
// client that sends the body in a later packet (autocannon does) still gets
// the timer.
function armBodyIdle(m: Reading) {
  const r = m[kReading]
  if (r && !m.complete && !r.idle) r.idle = setTimeout(onBodyIdle, r.idleMs, m)
}
let specOf: (r: IncomingRequest) => Request

/**
 * A Request for one IncomingMessage. `instanceof Request` holds; method, url,
 * headers, signal and the body readers are its own; every other member
 * comes from a spec Request built on first use.
 */
export class IncomingRequest {
  readonly #incoming: IncomingMessage
  readonly #url: string
  #headers: IncomingHeaders | undefined
  #signal: LiteAbortSignal | undefined
  #aborted = false
  #used = false
  #spec: Request | undefined

  readonly #bodyIdleMs: number

  /** `bodyIdleMs`: the longest pause between two pieces of the body (0: none). */
  constructor(incoming: IncomingMessage, bodyIdleMs = 0) {
    this.#incoming = incoming
    this.#url = requestUrl(incoming)
    this.#bodyIdleMs = bodyIdleMs
  }

  get method(): string {
    return this.#incoming.method!
  }

  get url(): string {
    return this.#url
  }

  get headers(): Headers {
    return (this.#headers ??= new IncomingHeaders(this.#incoming)) as unknown as Headers
  }

  // A lite signal (abort.ts): the core only listens to it; a spec Request gets a real one.
  get signal(): AbortSignal {
    if (!this.#signal) {
      this.#signal = new LiteAbortSignal()
      if (this.#aborted) this.#signal._abort(ABORTED)
    }
    return this.#signal as unknown as AbortSignal
  }

  /** The client went away before the response was finished. */
  abort(): void {
    this.#aborted = true
    this.#signal?._abort(ABORTED)
  }

  get body(): ReadableStream<Uint8Array> | null {
    return this.#request().body
  }

  get bodyUsed(): boolean {
    return this.#spec ? this.#spec.bodyUsed : this.#used
  }

  text(): Promise<string> {
    return this.#bytes().then((b) => {
      const s = b.toString('utf8')
      return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s
    })
  }

  json(): Promise<unknown> {
    return this.text().then(JSON.parse)
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#bytes().then((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer)
  }

  bytes(): Promise<Uint8Array> {
    return this.#bytes().then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength))
  }

  blob(): Promise<Blob> {
    return this.#bytes().then((b) => new Blob([new Uint8Array(b.buffer, b.byteOffset, b.byteLength) as Uint8Array<ArrayBuffer>], { type: this.headers.get('content-type') ?? '' }))
  }

  formData(): Promise<FormData> {
    return this.#request().formData()
  }

  clone(): Request {
    return this.#request().clone()
  }

  /** The whole body, read straight from the IncomingMessage. */
  #bytes(): Promise<Buffer> {
    if (this.#spec) return this.#spec.arrayBuffer().then((a) => Buffer.from(a))
    if (this.#used) return Promise.reject(new TypeError('Body is unusable: Body has already been read'))
    this.#used = true
    const m = this.#incoming
    if (m.method === 'GET' || m.method === 'HEAD') return Promise.resolve(Buffer.alloc(0))
    if (m.complete && m.readableFlowing !== true) {
      // The whole message is in (usually so for a small body): take it from the buffer now.
      const chunks: Buffer[] = []
      for (let c: Buffer | null; (c = m.read() as Buffer | null) !== null; ) chunks.push(c)
      return Promise.resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks))
    }
    return new Promise((resolve, reject) => {
      const idleMs = this.#bodyIdleMs
      ;(m as Reading)[kReading] = { chunks: [], resolve, reject, idle: undefined, idleMs }
      if (idleMs) process.nextTick(armBodyIdle, m)
      m.on('data', onBodyData)
      m.on('end', onBodyEnd)
      m.on('error', onBodyError)
      m.on('close', onBodyClose)
    })
  }

  /** A spec Request with the same method, URL, headers, signal and (unread) body. */
  #request(): Request {
    if (this.#spec) return this.#spec
    const m = this.#incoming
    const init: RequestInit & { duplex?: 'half' } = { method: m.method, headers: this.headers, signal: (this.signal as unknown as LiteAbortSignal).real() }
    if (m.method !== 'GET' && m.method !== 'HEAD') {
      init.duplex = 'half'
      init.body = this.#used ? new ReadableStream({ start: (c) => c.close() }) : nodeToWeb(m, this.#bodyIdleMs)
    }
    const spec = new GlobalRequest(this.#url, init)
    if (this.#used) spec.body?.getReader() // already read: the copy's body is spent too
    return (this.#spec = spec)
  }

  [Symbol.for('nodejs.util.inspect.custom')]() {
    return `Request (lazy) ${this.method} ${this.#url}`
  }

  static {
    specOf = (r) => r.#request()
  }
}
for (const k of ['cache', 'credentials', 'destination', 'duplex', 'integrity', 'keepalive', 'mode', 'redirect', 'referrer', 'referrerPolicy'] as const) {
  Object.defineProperty(IncomingRequest.prototype, k, { get: function (this: IncomingRequest) { return (specOf(this) as unknown as Record<string, unknown>)[k] }, configurable: true })
}
Object.setPrototypeOf(IncomingRequest.prototype, GlobalRequest.prototype)

function nodeToWeb(m: IncomingMessage, idleMs = 0): ReadableStream<Uint8Array> {
  let stop = () => {}
  let idle: NodeJS.Timeout | undefined
  return new ReadableStream<Uint8Array>({
    start(ctrl) {
      const onData = (c: Buffer) => {
        ctrl.enqueue(new Uint8Array(c.buffer, c.byteOffset, c.byteLength))
        idle?.refresh()
        if ((ctrl.desiredSize ?? 1) <= 0) m.pause()
      }
      const onEnd = () => {
        stop()
        ctrl.close()
      }
      const onError = (e: Error) => {
        stop()
        ctrl.error(clientGone(e))
      }
      const onClose = () => {
        if (!m.readableEnded) onError(m.errored ?? new Error(ABORTED))
      }
      const onIdle = () => {
        // Paused, we wait on our reader, not on the client.
        if (m.isPaused()) return void idle?.refresh()
        stop()
        ctrl.error(bodyStalled(idleMs))
      }
      stop = () => {
        clearTimeout(idle)
        idle = undefined
        m.off('data', onData)
        m.off('end', onEnd)
        m.off('error', onError)
        m.off('close', onClose)
      }
      m.on('data', onData)
      m.on('end', onEnd)
      m.on('error', onError)
      m.on('close', onClose)
      if (idleMs) idle = setTimeout(onIdle, idleMs)
    },
    pull() {
      m.resume()
      idle?.refresh()
    },
    cancel() {
      // The rest is dropped; the server drains it or closes the connection.
      stop()
    },
  })
}

function requestUrl(m: IncomingMessage): string {
  const target = m.url ?? ''
  if (target.startsWith('http://') || target.startsWith('https://')) {
    try {
      return new URL(target).href
    } catch {
      throw new BadRequestLine('Invalid absolute URL')
    }
  }
  const host = m.headers.host
  if (!host) throw new BadRequestLine('Missing host header')
  if (target.charCodeAt(0) !== 47 /* / */) throw new BadRequestLine('Invalid URL')
  const url = `http://${host}${target}`
  if (PLAIN_HOST.test(host) && PLAIN_PATH.test(target) && !DOT_SEGMENT.test(target)) return url
  // A backslash in the path would become a slash in a URL: refuse it rather than reinterpret it.
  const bs = target.indexOf('\\')
  if (bs !== -1) {
    const q = target.indexOf('?')
    if (q === -1 || bs < q) throw new BadRequestLine('Backslash in request path')
  }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new BadRequestLine('Invalid URL')
  }
  // A host header that smuggles a path or credentials ("a/b", "u@h") is refused: the URL would not keep it.
  const bare = (host.includes(':') ? host.replace(/:\d+$/, '') : host).toLowerCase()
  if (parsed.hostname.length !== host.length && parsed.hostname !== bare) throw new BadRequestLine('Invalid host header')
  return parsed.href
}
