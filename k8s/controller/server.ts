// The controller's HTTP side: GET /config (the compiled config document, ETag,
// 304 on If-None-Match, ?wait=N long poll, bearer-token auth), /healthz,
// /readyz, /metrics (Prometheus text).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { timingSafeEqual } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { ConfigDocument } from '../../src/config/pull.ts'
import type { Metrics } from './metrics.ts'

export interface ConfigServerOptions {
  /** Bearer tokens gateways present. Empty: no auth (only for tests and a loopback-only embed). */
  tokens: string[]
  metrics: Metrics
  /** Ready when the caches have synced and a config exists. */
  ready: () => boolean
  /** Longest long poll allowed (seconds). */
  maxWaitSeconds?: number
}

export class ConfigServer {
  #doc: ConfigDocument | undefined
  #body = ''
  #waiters = new Set<() => void>()
  #server: Server | undefined
  url = ''

  constructor(private readonly o: ConfigServerOptions) {}

  get version(): string | undefined {
    return this.#doc?.version
  }

  /** Publishes a document; long polls waiting on an older version answer now. */
  publish(doc: ConfigDocument): void {
    if (doc.version === this.#doc?.version) return
    this.#doc = doc
    this.#body = JSON.stringify(doc)
    this.o.metrics.set('kortex_controller_config_info', 1, { version: doc.version })
    const w = [...this.#waiters]
    this.#waiters.clear()
    for (const f of w) f()
  }

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://controller')
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers })
      res.end(body)
    }
    if (url.pathname === '/healthz') return send(200, 'ok\n')
    if (url.pathname === '/readyz') return this.o.ready() && this.#doc ? send(200, 'ready\n') : send(503, 'not ready: caches not synced or no config yet\n')
    if (url.pathname === '/metrics') return send(200, this.o.metrics.render(), { 'content-type': 'text/plain; version=0.0.4' })
    if (url.pathname !== '/config') return send(404, 'not found\n')
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n', { allow: 'GET' })
    const count = (code: number) => this.o.metrics.inc('kortex_controller_config_requests_total', { code: String(code) })
    if (!this.authorized(req.headers.authorization)) {
      count(401)
      return send(401, 'a bearer token is required\n', { 'www-authenticate': 'Bearer realm="kortex-controller"' })
    }
    if (!this.#doc) {
      count(503)
      return send(503, 'no config compiled yet\n', { 'retry-after': '2' })
    }
    const inm = req.headers['if-none-match']
    const matches = () => !!inm && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === `"${this.#doc!.version}"`)
    const answer = () => {
      if (res.writableEnded || res.destroyed) return
      const etag = `"${this.#doc!.version}"`
      if (matches()) {
        count(304)
        res.writeHead(304, { etag, 'cache-control': 'no-store' })
        return void res.end()
      }
      count(200)
      res.writeHead(200, { 'content-type': 'application/json', etag, 'cache-control': 'no-store' })
      res.end(req.method === 'HEAD' ? undefined : this.#body)
    }
    const wait = Math.min(Number(url.searchParams.get('wait')) || 0, this.o.maxWaitSeconds ?? 300)
    if (!matches() || wait <= 0) return answer()
    // Long poll: hold until the version changes or `wait` seconds pass (then 304).
    const done = () => {
      clearTimeout(timer)
      this.#waiters.delete(done)
      this.o.metrics.set('kortex_controller_long_polls', this.#waiters.size)
      answer()
    }
    const timer = setTimeout(done, wait * 1000)
    this.#waiters.add(done)
    this.o.metrics.set('kortex_controller_long_polls', this.#waiters.size)
    res.on('close', () => {
      clearTimeout(timer)
      this.#waiters.delete(done)
    })
  }

  private authorized(header: string | undefined): boolean {
    if (!this.o.tokens.length) return true
    const m = /^Bearer\s+(.+)$/i.exec(header ?? '')
    if (!m) return false
    const given = Buffer.from(m[1]!.trim())
    return this.o.tokens.some((t) => {
      const want = Buffer.from(t)
      return want.length === given.length && timingSafeEqual(want, given)
    })
  }

  async listen(port: number, host = '0.0.0.0'): Promise<string> {
    this.#server = createServer(this.handle)
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject)
      this.#server!.listen(port, host, () => resolve())
    })
    const a = this.#server.address() as AddressInfo
    this.url = `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${a.port}`
    return this.url
  }

  async close(): Promise<void> {
    for (const f of [...this.#waiters]) f()
    if (!this.#server) return
    this.#server.closeAllConnections()
    await new Promise<void>((r) => this.#server!.close(() => r()))
  }
}
