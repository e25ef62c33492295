// Kortex's metrics from a Worker, over OTLP/HTTP: the instruments the Node and
// Deno gateways serve on /metrics (src/telemetry/metrics.ts, the GenAI
// histograms through kortexHistograms), collected on demand. A Worker has no
// background timers, so each request's end (ctx.waitUntil) exports, at most
// once per OTEL_METRIC_EXPORT_INTERVAL ms per isolate.
//
// Every isolate counts from its own start: its series carry a
// service.instance.id of their own, so a collector never adds up two
// isolates' cumulative sums as one series. The request is serialized by the
// OTLP transformer otel-cf-workers already bundles (JSON) and posted with
// fetch: the SDK's HTTP exporter would add ~25 KiB gzipped to the script.
import { metrics } from '@opentelemetry/api'
import { JsonMetricsSerializer } from '@opentelemetry/otlp-transformer'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { kortexHistograms } from '../metrics/producer.ts'
import { observeFleet, type FleetView } from '../../src/telemetry/metrics.ts'

export interface MetricsEnv {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT?: string
  OTEL_EXPORTER_OTLP_HEADERS?: string
  OTEL_EXPORTER_OTLP_METRICS_HEADERS?: string
  OTEL_SERVICE_NAME?: string
  OTEL_METRICS_EXPORTER?: string
  OTEL_METRIC_EXPORT_INTERVAL?: string
}

/** `k1=v1,k2=v2` (values URL-encoded), as the OTEL_EXPORTER_OTLP_*HEADERS variables hold them. */
export function otlpHeaders(text: string | undefined): Record<string, string> {
  return Object.fromEntries(
    (text ?? '')
      .split(',')
      .map((kv) => kv.split('=').map((x) => x.trim()))
      .filter((kv) => kv.length === 2 && kv[0])
      .map(([k, v]) => [k!, decodeURIComponent(v!)]),
  )
}

/** Where metrics go, or undefined: no endpoint, or OTEL_METRICS_EXPORTER=none. */
export function metricsUrl(env: MetricsEnv): string | undefined {
  if (env.OTEL_METRICS_EXPORTER?.trim() === 'none') return undefined
  const own = env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT?.trim()
  if (own) return own
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim().replace(/\/+$/, '')
  return base ? `${base}/v1/metrics` : undefined
}

/** A reader that collects only when asked: the Worker asks after a request. */
class OnDemandReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

export interface WorkerMetrics {
  /** Exports what the instruments hold, unless this isolate exported less than the interval ago. */
  flush(): Promise<void>
}

let installed: { m: WorkerMetrics } | undefined

/** This isolate's exporter for the endpoint the bindings name (installed as the global meter provider once), or undefined. */
export function workerMetrics(env: MetricsEnv, view: FleetView): WorkerMetrics | undefined {
  const url = metricsUrl(env)
  if (!url) return undefined
  // Once per isolate: the global meter provider is set once (a changed endpoint keeps the first).
  if (installed) return installed.m
  const reader = new OnDemandReader({ metricProducers: [kortexHistograms] })
  const resource = resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME ?? 'kortex', 'service.instance.id': crypto.randomUUID() })
  metrics.setGlobalMeterProvider(new MeterProvider({ resource, readers: [reader] }))
  observeFleet(view)
  const headers = { ...otlpHeaders(env.OTEL_EXPORTER_OTLP_HEADERS), ...otlpHeaders(env.OTEL_EXPORTER_OTLP_METRICS_HEADERS), 'content-type': 'application/json' }
  const n = Number(env.OTEL_METRIC_EXPORT_INTERVAL)
  const intervalMs = env.OTEL_METRIC_EXPORT_INTERVAL !== undefined && Number.isFinite(n) && n >= 0 ? n : 60_000
  let last = -Infinity
  const m: WorkerMetrics = {
    async flush() {
      const now = Date.now()
      if (now - last < intervalMs) return
      last = now
      const { resourceMetrics } = await reader.collect()
      if (!resourceMetrics.scopeMetrics.some((s) => s.metrics.length)) return
      const body = JsonMetricsSerializer.serializeRequest(resourceMetrics as never) as Uint8Array<ArrayBuffer> | undefined
      if (!body) return
      const res = await fetch(url, { method: 'POST', headers, body })
      await res.body?.cancel()
      if (!res.ok) console.warn('kortex: OTLP metrics export failed', { status: res.status })
    },
  }
  installed = { m }
  return m
}
