// Kortex's request-path histograms (src/telemetry/metrics.ts aggregates them
// itself: the SDK's histograms cost ~1 µs a record) handed to an OpenTelemetry
// metric reader as one more producer, so every exporter — Prometheus here,
// OTLP beside it — sees them like the SDK's own instruments.
import { ValueType } from '@opentelemetry/api'
import { AggregationTemporality, DataPointType, type CollectionResult, type MetricData, type MetricProducer, type ResourceMetrics } from '@opentelemetry/sdk-metrics'
import { instrumentsNow, type HistogramTally } from '../../src/telemetry/metrics.ts'

const hrTime = (ms: number): [number, number] => [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)]

function metricData(h: HistogramTally, now: [number, number]): MetricData {
  const startTime = hrTime(h.since)
  return {
    descriptor: { name: h.name, description: h.description, unit: h.unit, valueType: ValueType.DOUBLE },
    aggregationTemporality: AggregationTemporality.CUMULATIVE,
    dataPointType: DataPointType.HISTOGRAM,
    dataPoints: [...h.series()].map((s) => ({
      attributes: s.attributes,
      startTime,
      endTime: now,
      value: { buckets: { boundaries: [...h.bounds], counts: [...s.counts] }, sum: s.sum, count: s.count, min: s.min, max: s.max },
    })),
  }
}

/** The producer to give a MetricReader (`metricProducers: [kortexHistograms]`). */
export const kortexHistograms: MetricProducer = {
  async collect(): Promise<CollectionResult> {
    const m = instrumentsNow()
    const now = hrTime(Date.now())
    const metrics = (m?.histograms ?? []).map((h) => metricData(h, now)).filter((d) => d.dataPoints.length > 0)
    // The reader keeps the SDK's resource and ignores a producer's.
    const resourceMetrics = { resource: undefined, scopeMetrics: metrics.length ? [{ scope: { name: 'kortex' }, metrics }] : [] } as unknown as ResourceMetrics
    return { resourceMetrics, errors: [] }
  },
}
