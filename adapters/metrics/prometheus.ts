// Prometheus exposition for the Node and Deno gateways: the OpenTelemetry
// metrics SDK holds the instruments src/ records through @opentelemetry/api,
// and @opentelemetry/exporter-prometheus serializes them. Web APIs only, so
// both runtimes answer GET /metrics with the same Response.
import { metrics } from '@opentelemetry/api'
import { MeterProvider, type MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics'
import type { Resource } from '@opentelemetry/resources'
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus'
import { observeFleet, type FleetView } from '../../src/telemetry/metrics.ts'
import { kortexHistograms } from './producer.ts'

export const TEXT = 'text/plain; version=0.0.4; charset=utf-8'
export const OPENMETRICS = 'application/openmetrics-text; version=1.0.0; charset=utf-8'

export interface Exposition {
  /** The current metrics as a response, in OpenMetrics when `accept` asks for it, else Prometheus text. */
  respond(accept: string | null): Promise<Response>
  /** Report a gateway's breaker, health and in-flight gauges; returns the function that stops it. */
  observe(view: FleetView): () => void
  /** The meter provider it installed as the global one. */
  provider: MeterProvider
}

let installed: Exposition | undefined
/** Installs the process's meter provider with a Prometheus reader (and any others, such as OTLP's), once; every gateway in the process shares it. */
export function installExposition(also: { readers?: MetricReader[]; resource?: Resource } = {}): Exposition {
  if (installed) return installed
  // Cumulative, as Prometheus expects; the reader is collected only when scraped.
  const reader = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, withoutTargetInfo: true, metricProducers: [kortexHistograms] })
  const provider = new MeterProvider({ resource: also.resource, readers: [reader, ...(also.readers ?? [])] })
  metrics.setGlobalMeterProvider(provider)
  const serializer = new PrometheusSerializer('', false, undefined, true, true)
  installed = {
    async respond(accept) {
      const { resourceMetrics } = await reader.collect()
      const text = serializer.serialize(prometheusNames(resourceMetrics))
      const om = accept !== null && accept.includes('application/openmetrics-text')
      return new Response(om ? openMetrics(text) : plainText(text), { headers: { 'content-type': om ? OPENMETRICS : TEXT } })
    },
    observe: observeFleet,
    provider,
  }
  return installed
}

// OpenTelemetry units as Prometheus suffixes (the OTel-to-Prometheus compatibility spec);
// annotations such as {token} add nothing.
const UNIT_WORDS: Record<string, string> = { s: 'seconds', ms: 'milliseconds', By: 'bytes', '1': 'ratio' }

/** Metric names as Prometheus shows them: the unit as a suffix (gen_ai.client.operation.duration → _seconds). */
export function prometheusNames(rm: ResourceMetrics): ResourceMetrics {
  return {
    ...rm,
    scopeMetrics: rm.scopeMetrics.map((sm) => ({
      ...sm,
      metrics: sm.metrics.map((m) => {
        const word = UNIT_WORDS[m.descriptor.unit]
        const name = word && !m.descriptor.name.endsWith(`.${word}`) && !m.descriptor.name.endsWith(`_${word}`) ? `${m.descriptor.name}_${word}` : m.descriptor.name
        return { ...m, descriptor: { ...m.descriptor, name, unit: word ?? '' } }
      }),
    })),
  }
}

// The serializer writes `# UNIT` lines text format 0.0.4 does not have, and
// names a counter family with its _total sample's name, which OpenMetrics does
// not allow; the family name and the terminating # EOF are OpenMetrics' own.
const plainText = (text: string) => text.replace(/^# UNIT .*\n/gm, '') + (text.endsWith('\n') || !text ? '' : '\n')

function openMetrics(text: string): string {
  const lines = plainText(text).split('\n')
  const out: string[] = []
  for (const line of lines) {
    if (!line) continue
    const meta = /^# (HELP|TYPE) (\S+)(.*)$/.exec(line)
    if (meta && meta[2]!.endsWith('_total')) out.push(`# ${meta[1]} ${meta[2]!.slice(0, -'_total'.length)}${meta[3]}`)
    else out.push(line)
  }
  out.push('# EOF', '')
  return out.join('\n')
}
