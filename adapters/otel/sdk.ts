// The OpenTelemetry SDK for OTLP export, installed from the standard OTEL_*
// environment (the exporters read their endpoint, headers and timeouts from
// it; the tracer provider its OTEL_TRACES_SAMPLER): spans in batches, metrics
// on an interval with Kortex's own histograms beside the SDK's instruments.
// Loaded only by dynamic import, when otlpSettings says an export is wanted.
import { metrics, propagation, trace } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources'
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, type SpanExporter } from '@opentelemetry/sdk-trace-base'
import { MeterProvider, PeriodicExportingMetricReader, type MetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics'
import { kortexHistograms } from '../metrics/producer.ts'
import type { OtlpSettings } from './settings.ts'
import { observeFleet, type FleetView } from '../../src/telemetry/metrics.ts'
import { sampleRootsAt } from '../../src/telemetry/trace.ts'

export interface Otel {
  /** The OTLP metric reader, for the process's one meter provider (metrics/prometheus.ts installs it). */
  metricReader?: MetricReader
  /** service.name and the rest, for a meter provider made elsewhere. */
  resource: Resource
  /** Sends what is buffered and stops. */
  shutdown(): Promise<void>
}

/** service.name is `kortex` unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise. */
function resource(version: string | undefined): Resource {
  const own = resourceFromAttributes({ 'service.name': 'kortex', ...(version ? { 'service.version': version } : {}) })
  return own.merge(detectResources({ detectors: [envDetector] }))
}

export async function installOtel(s: OtlpSettings, version?: string): Promise<Otel> {
  const res = resource(version)
  let provider: BasicTracerProvider | undefined
  if (s.traces) {
    const { OTLPTraceExporter } = s.traces === 'http/json' ? await import('@opentelemetry/exporter-trace-otlp-http') : await import('@opentelemetry/exporter-trace-otlp-proto')
    // OTEL_TRACES_SAMPLER, when set, is read by the provider itself.
    const sampler = s.defaultSampleRatio === undefined ? undefined : new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(s.defaultSampleRatio) })
    provider = new BasicTracerProvider({ resource: res, ...(sampler ? { sampler } : {}), spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter() as SpanExporter)] })
    trace.setGlobalTracerProvider(provider)
    propagation.setGlobalPropagator(new W3CTraceContextPropagator())
    // The same ratio, applied before the SDK is asked: a request left out costs nothing.
    sampleRootsAt(s.defaultSampleRatio)
  }
  let metricReader: MetricReader | undefined
  if (s.metrics) {
    const { OTLPMetricExporter } = s.metrics === 'http/json' ? await import('@opentelemetry/exporter-metrics-otlp-http') : await import('@opentelemetry/exporter-metrics-otlp-proto')
    // Without the producer the GenAI histograms (summed in src/telemetry, not by the SDK) would be missing.
    metricReader = new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter() as PushMetricExporter, exportIntervalMillis: s.metricIntervalMs, exportTimeoutMillis: Math.min(30_000, s.metricIntervalMs), metricProducers: [kortexHistograms] })
  }
  return {
    metricReader,
    resource: res,
    async shutdown() {
      await Promise.allSettled([provider?.shutdown(), metricReader?.shutdown()])
    },
  }
}

/** The meter provider for OTLP alone (no Prometheus exposition), installed as the global one, with the fleet's gauges. */
export function installOtlpMeter(otel: Otel, view: FleetView): MeterProvider | undefined {
  if (!otel.metricReader) return undefined
  const provider = new MeterProvider({ resource: otel.resource, readers: [otel.metricReader] })
  metrics.setGlobalMeterProvider(provider)
  observeFleet(view)
  return provider
}
