// Which exports the standard OTEL_* environment turns on, and the sampler a
// gateway uses when the operator names none.
import { expect, it } from 'vitest'
import { otlpSettings } from '../../adapters/otel/settings.ts'

const settings = (env: Record<string, string>) => otlpSettings((n) => env[n])
const exports = (env: Record<string, string>) => {
  const s = settings(env)
  return { traces: s.traces, metrics: s.metrics }
}

it('nothing without an endpoint, or with the SDK disabled or the exporters set to none', () => {
  expect(exports({ OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' })).toEqual({ traces: undefined, metrics: undefined })
  expect(exports({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' })).toEqual({ traces: undefined, metrics: undefined })
  expect(exports({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' })).toEqual({ traces: undefined, metrics: 'http/protobuf' })
})

it('the signal endpoints and protocols each on their own; grpc is refused with a warning, not ignored', () => {
  expect(exports({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })).toEqual({ traces: 'http/protobuf', metrics: undefined })
  expect(exports({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://c:4318/v1/metrics', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json' })).toEqual({ traces: undefined, metrics: 'http/json' })
  const grpc = settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })
  expect(grpc.traces).toBe('http/protobuf')
  expect(grpc.warnings.join('\n')).toMatch(/grpc is not supported/)
})

it('with no OTEL_TRACES_SAMPLER: parent-based, 1% of untraced requests (or OTEL_TRACES_SAMPLER_ARG); a named sampler is left to the SDK', () => {
  expect(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }).defaultSampleRatio).toBe(0.01)
  expect(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER_ARG: '0.25' }).defaultSampleRatio).toBe(0.25)
  expect(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER: 'parentbased_always_on' }).defaultSampleRatio).toBeUndefined()
})
