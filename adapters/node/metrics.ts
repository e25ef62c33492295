// GET /metrics on Node: on the gateway's own port (in front of the gateway's
// routes), or on a port of its own (KORTEX_METRICS_PORT) so the exposition
// stays off a public listener. KORTEX_METRICS=off installs nothing at all.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Gateway } from '../../src/app.ts'
import type { FleetView } from '../../src/telemetry/metrics.ts'
import type { Exposition } from '../metrics/prometheus.ts'
import { isMetricsRequest, metricsSettings } from '../metrics/settings.ts'
import type { Otel } from '../otel/sdk.ts'

export interface NodeMetrics {
  /** The gateway, answering the metrics path too when metrics share its port. */
  gateway: Pick<Gateway, 'fetch'>
  /** The separate metrics listener's URL, when there is one. */
  url?: string
  close(): Promise<void>
}

/** `otel`: OTLP export, whose metric reader joins the exposition's meter provider (or has one of its own with metrics off). */
export async function startMetrics(gateway: Pick<Gateway, 'fetch'>, view: FleetView, host: string, env: NodeJS.ProcessEnv = process.env, otel?: Otel): Promise<NodeMetrics> {
  const settings = metricsSettings((n) => env[n])
  if (!settings.enabled) {
    if (otel?.metricReader) (await import('../otel/sdk.ts')).installOtlpMeter(otel, view)
    return { gateway, close: async () => {} }
  }
  // The SDK and exporter load only now: with metrics off they cost no memory either.
  const exposition = (await import('../metrics/prometheus.ts')).installExposition({ readers: otel?.metricReader && [otel.metricReader], resource: otel?.resource })
  const unobserve = exposition.observe(view)
  if (settings.port === undefined) {
    const path = settings.path
    const fetch: Gateway['fetch'] = (request, ctx) => (isMetricsRequest(request, path) ? exposition.respond(request.headers.get('accept')) : gateway.fetch(request, ctx))
    return { gateway: { fetch }, close: async () => void unobserve() }
  }
  const server = await listenMetrics(exposition, settings.path, settings.port, host)
  const info = server.address() as AddressInfo
  return {
    gateway,
    url: `http://${info.family === 'IPv6' ? `[${info.address}]` : info.address}:${info.port}`,
    close: () =>
      new Promise<void>((r) => {
        unobserve()
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

function listenMetrics(exposition: Exposition, path: string, port: number, host: string): Promise<Server> {
  const server = createServer((req, res) => {
    const pathname = (req.url ?? '/').split('?')[0]
    if (pathname !== path || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`Metrics are at ${path}\n`)
      return
    }
    exposition.respond(req.headers.accept ?? null).then(
      async (r) => {
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type')! })
        res.end(req.method === 'HEAD' ? undefined : await r.text())
      },
      (err) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`Collecting metrics failed: ${err instanceof Error ? err.message : String(err)}\n`),
    )
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve(server)
    })
  })
}
