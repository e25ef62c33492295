// The Node server: node:http in front of the gateway, with a Request built
// lazily over the IncomingMessage (request.ts) and responses written
// straight to the socket (response.ts). Hono's node adapter did the same
// job with more layers (~100 µs of CPU per proxied request more here).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ExecutionContext, Gateway } from '../../src/app.ts'
import { BadRequestLine, IncomingRequest } from './request.ts'
import { installLiteResponse, writeResponse } from './response.ts'
import { onClientError, refuse } from './refusal.ts'
import { DEFAULT_LIMITS, type ServerLimits } from './server-limits.ts'

export interface RunningServer {
  url: string
  port: number
  server: Server
  close(): Promise<void>
}

// Node keeps running until background work is done, and the core only hands over
// promises it has already guarded (they never reject): nothing to do here.
const ctx: ExecutionContext = { waitUntil: () => {} }
// A body left unread when the response is done is read and dropped so the
// connection can serve the next request, within these bounds; past them the
// connection is closed instead.
const DRAIN_MS = 500
const DRAIN_BYTES = 64 * 1024 * 1024

const kRequest = Symbol('kortex.request')
type Out = ServerResponse & { [kRequest]?: IncomingRequest }

// Shared listeners (`this` is the ServerResponse): no closures per request.
function onClose(this: Out) {
  if (!this.writableFinished) this[kRequest]?.abort()
}
function onFinish(this: Out) {
  if (!this.req.complete) drain(this.req)
}
function failed(out: ServerResponse, err: unknown) {
  console.error('kortex: the gateway failed to answer:', err)
  if (out.headersSent) out.destroy() // a response under way cannot become an error any more: cut it
  else refuse(out, 500, 'The gateway failed to answer; see its log.', 'internal_error', 'api_error')
}

export function requestListener(gateway: Pick<Gateway, 'fetch'>, bodyIdleMs = 0): (incoming: IncomingMessage, out: ServerResponse) => void {
  installLiteResponse()
  return (incoming, out: Out) => {
    let req: IncomingRequest
    try {
      req = new IncomingRequest(incoming, bodyIdleMs)
    } catch (err) {
      refuse(out, 400, err instanceof BadRequestLine ? err.message : 'Bad request', 'malformed_request')
      return
    }
    out[kRequest] = req
    out.on('close', onClose)
    if (incoming.method !== 'GET' && incoming.method !== 'HEAD') out.on('finish', onFinish)
    let answer: Promise<Response>
    try {
      answer = gateway.fetch(req as unknown as Request, ctx)
    } catch (err) {
      answer = Promise.reject(err)
    }
    answer.then(
      (res) => writeResponse(res, out, incoming),
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

export function listen(gateway: Pick<Gateway, 'fetch'>, port: number, hostname: string, limits: ServerLimits = DEFAULT_LIMITS): Promise<RunningServer> {
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
    const server = createServer(options, requestListener(gateway, limits.bodyIdleTimeoutMs))
    server.maxConnections = limits.maxConnections
    server.on('clientError', onClientError)
    server.once('error', reject)
    server.listen(port, hostname, () => {
      server.off('error', reject)
      const info = server.address() as AddressInfo
      const host = info.family === 'IPv6' ? `[${info.address}]` : info.address
      resolve({
        url: `http://${host}:${info.port}`,
        port: info.port,
        server,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections()
            server.close(() => r())
          }),
      })
    })
  })
}
