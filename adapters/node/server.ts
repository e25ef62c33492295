// The Node server: Hono's node adapter in front of the gateway.
import { serve, type ServerType } from '@hono/node-server'
import type { AddressInfo } from 'node:net'
import type { Gateway } from '../../src/app.ts'

export interface RunningServer {
  url: string
  port: number
  server: ServerType
  close(): Promise<void>
}

export function listen(gateway: Gateway, port: number, hostname: string): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch: (req) => gateway.fetch(req, { waitUntil: (p) => void p.catch(() => {}) }),
        port,
        hostname,
        // node-server's lightweight Response (installed globally) hands a string body
        // straight to the socket; a plain Response is read back through a stream.
        // Safe here because the core builds every response with fresh headers.
        overrideGlobalObjects: true,
      },
      (info: AddressInfo) => {
        const host = info.family === 'IPv6' ? `[${info.address}]` : info.address
        resolve({
          url: `http://${host}:${info.port}`,
          port: info.port,
          server,
          close: () =>
            new Promise<void>((r) => {
              if ('closeAllConnections' in server) server.closeAllConnections()
              server.close(() => r())
            }),
        })
      },
    )
    server.once('error', reject)
  })
}
