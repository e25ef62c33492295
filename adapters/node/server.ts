// The Node server: node:http in front of the gateway, with a Request built
// lazily over the IncomingMessage (request.ts) and responses written
// straight to the socket (response.ts). Hono's node adapter did the same
// job with more layers (~100 µs of CPU per proxied request more here).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { ExecutionContext, Gateway } from '../../src/app.ts'
import { BadRequestLine, IncomingRequest, kRequest } from './request.ts'
import { installLiteResponse, writeResponse } from './response.ts'
import { onClientError, refuse, type RefusalNote } from './refusal.ts'
import { InFlight, drainServer, type Drained } from './drain.ts'
import { DEFAULT_LIMITS, type ServerLimits } from './server-limits.ts'

export interface RunningServer {
  url: string
  port: number
  server: Server
  /**
   * Stops accepting connections and lets what is in flight finish for up to
   * `drainMs` (0 by default: ended at once), ending the rest; resolves when
   * every connection is closed and the work after each response is done.
   * Called again during a drain, ends it now.
   */
  close(drainMs?: number): Promise<Drained>
}

// A body left unread when the response is done is read and dropped so the
// connection can serve the next request, within these bounds; past them the
// connection is closed instead.
const DRAIN_MS = 500
const DRAIN_BYTES = 64 * 1024 * 1024

type Out = ServerResponse & { [kRequest]?: IncomingRequest }

// Shared listeners (`this` is the ServerResponse): no closures per request.
function onFinish(this: Out) {
  if (!this.req.complete) drain(this.req)
}
function failed(out: ServerResponse, err: unknown) {
  if (out.writableEnded) return // answered already: cut short by a shutdown
  console.error('kortex: the gateway failed to answer:', err)
  if (out.headersSent) out.destroy() // a response under way cannot become an error any more: cut it
  else refuse(out, 500, 'The gateway failed to answer; see its log.', 'internal_error', 'api_error')
}
const NOT_READY = JSON.stringify({ status: 'shutting down' })

export function requestListener(gateway: Pick<Gateway, 'fetch'> & { refused?: RefusalNote }, bodyIdleMs = 0, inFlight = new InFlight()): (incoming: IncomingMessage, out: ServerResponse) => void {
  installLiteResponse()
  // Node keeps running until background work is done; the core only hands over
  // promises it has already guarded (they never reject). Counted, for a shutdown to wait for.
  const ctx: ExecutionContext = { waitUntil: (p) => inFlight.background(p) }
  function onClose(this: Out) {
    inFlight.closed(this)
    if (!this.writableFinished) this[kRequest]?.abort()
  }
  return (incoming, out: Out) => {
    if (inFlight.draining) {
      out.shouldKeepAlive = false // `Connection: close`: the client's next request goes to another instance
      if (incoming.url === '/readyz') {
        out.writeHead(503, { 'content-type': 'application/json', 'content-length': NOT_READY.length }).end(NOT_READY)
        return
      }
    }
    let req: IncomingRequest
    try {
      req = new IncomingRequest(incoming, bodyIdleMs)
    } catch (err) {
      const message = err instanceof BadRequestLine ? err.message : 'Bad request'
      gateway.refused?.(400, 'malformed_request', message)
      refuse(out, 400, message, 'malformed_request')
      return
    }
    out[kRequest] = req
    inFlight.responses.add(out)
    out.on('close', onClose)
    if (incoming.method !== 'GET' && incoming.method !== 'HEAD') out.on('finish', onFinish)
    let answer: Promise<Response>
    try {
      answer = gateway.fetch(req as unknown as Request, ctx)
    } catch (err) {
      answer = Promise.reject(err)
    }
    answer.then(
      (res) => (out.writableEnded ? void res.body?.cancel().catch(() => {}) : writeResponse(res, out, incoming)),
      (err) => failed(out, err),
    )
  }
}

function drain(incoming: IncomingMessage) {
  if (incoming.destroyed) return
  let bytes = 0
  const stop = () => {
    clearTimeout(timer)
    incoming.off('data', onData)
    incoming.socket?.destroySoon()
  }
  const timer = setTimeout(stop, DRAIN_MS)
  timer.unref()
  const onData = (c: Buffer) => {
    if ((bytes += c.byteLength) > DRAIN_BYTES) stop()
  }
  incoming.on('data', onData)
  incoming.once('end', () => clearTimeout(timer))
  incoming.resume()
}

export function listen(gateway: Pick<Gateway, 'fetch'> & { refused?: RefusalNote }, port: number, hostname: string, limits: ServerLimits = DEFAULT_LIMITS): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const requestTimeout = limits.requestTimeoutMs
    const headersTimeout = Math.min(limits.headersTimeoutMs, requestTimeout) // Node refuses a longer one
    const options = {
      // Repeated fields read as Headers.get reads them ("a, b").
      joinDuplicateHeaders: true,
      // A missing Host is ours to refuse (requestUrl), in JSON; Node's own answer is a bare 400.
      requireHostHeader: false,
      headersTimeout,
      requestTimeout,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks both deadlines on this interval (30 s by default): often enough that they hold.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))),
    }
    const inFlight = new InFlight()
    const server = createServer(options, requestListener(gateway, limits.bodyIdleTimeoutMs, inFlight))
    server.maxConnections = limits.maxConnections
    server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => onClientError(err, socket, gateway.refused))
    server.once('error', reject)
    let closing: Promise<Drained> | undefined
    let endDrain = () => {}
    server.listen(port, hostname, () => {
      server.off('error', reject)
      const info = server.address() as AddressInfo
      const host = info.family === 'IPv6' ? `[${info.address}]` : info.address
      resolve({
        url: `http://${host}:${info.port}`,
        port: info.port,
        server,
        close: (drainMs = 0) => {
          if (closing) {
            endDrain()
            return closing
          }
          return (closing = drainServer(server, inFlight, drainMs, new Promise((r) => (endDrain = r))))
        },
      })
    })
  })
}
