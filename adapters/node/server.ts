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
        // Keep Node's own Request/Response globals: replacing them breaks code that builds responses from upstream ones.
        overrideGlobalObjects: false,
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
