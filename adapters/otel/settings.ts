// Which OpenTelemetry exports the standard environment asks for, read apart
// from the SDK so a gateway without OTEL_* variables never loads it.

export type OtlpProtocol = 'http/protobuf' | 'http/json'

export interface OtlpSettings {
  /** Spans over OTLP: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT, unless OTEL_TRACES_EXPORTER=none. */
  traces?: OtlpProtocol
  /** Metrics over OTLP: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT, unless OTEL_METRICS_EXPORTER=none. */
  metrics?: OtlpProtocol
  /**
   * With OTEL_TRACES_SAMPLER unset, Kortex samples parent-based with this ratio for requests that
   * come with no trace (OTEL_TRACES_SAMPLER_ARG, else 0.01): recording and exporting every request's
   * spans costs more CPU than the gateway's own work on a plain request. A caller's sampled trace is
   * always continued. OTEL_TRACES_SAMPLER=parentbased_always_on records every request.
   */
  defaultSampleRatio?: number
  /** OTEL_METRIC_EXPORT_INTERVAL, ms (default 60000). */
  metricIntervalMs: number
  /** What the environment asked for that Kortex does not do (grpc), said once at start. */
  warnings: string[]
}

export const DEFAULT_RATIO = 0.01

const PROTOCOLS: ReadonlySet<string> = new Set(['http/protobuf', 'http/json'])

export function otlpSettings(env: (name: string) => string | undefined): OtlpSettings {
  const get = (n: string) => env(n)?.trim() || undefined
  const warnings: string[] = []
  const none = (v: string | undefined) => v !== undefined && v.split(',').every((x) => x.trim() === 'none')
  const protocol = (signal: 'TRACES' | 'METRICS'): OtlpProtocol => {
    const p = get(`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`) ?? get('OTEL_EXPORTER_OTLP_PROTOCOL') ?? 'http/protobuf'
    if (PROTOCOLS.has(p)) return p as OtlpProtocol
    warnings.push(`OTEL_EXPORTER_OTLP_PROTOCOL=${p} is not supported; exporting ${signal.toLowerCase()} with http/protobuf (the collector's port 4318)`)
    return 'http/protobuf'
  }
  const interval = Number(get('OTEL_METRIC_EXPORT_INTERVAL'))
  const s: OtlpSettings = { metricIntervalMs: interval > 0 ? interval : 60_000, warnings }
  if (get('OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return s
  const base = get('OTEL_EXPORTER_OTLP_ENDPOINT')
  if ((get('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? base) && !none(get('OTEL_TRACES_EXPORTER'))) {
    s.traces = protocol('TRACES')
    if (!get('OTEL_TRACES_SAMPLER')) {
      const arg = Number(get('OTEL_TRACES_SAMPLER_ARG') ?? DEFAULT_RATIO)
      s.defaultSampleRatio = arg >= 0 && arg <= 1 ? arg : DEFAULT_RATIO
    }
  }
  if ((get('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT') ?? base) && !none(get('OTEL_METRICS_EXPORTER'))) s.metrics = protocol('METRICS')
  return s
}
