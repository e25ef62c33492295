// recordRequest against an in-memory OpenTelemetry SDK: the GenAI client span
// (name, kind, attributes, timing, status) and every metric point with its
// attributes, for a streamed chat, a failed request and an embeddings call;
// and, with no SDK, nothing at all and no throw.
import { afterEach, describe, expect, it } from 'vitest'
import { SpanKind, SpanStatusCode, metrics, trace, type Tracer, type TracerProvider } from '@opentelemetry/api'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { MeterProvider, MetricReader, DataPointType, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics'
import { recordRequest, type RequestSummary } from '../../src/telemetry/otel.ts'
import { SECONDS_BUCKETS, TOKEN_BUCKETS } from '../../src/telemetry/genai.ts'
import { kortexHistograms } from '../../adapters/metrics/producer.ts'

class Reader extends MetricReader {
  protected override async onForceFlush() {}
  protected override async onShutdown() {}
}

function installSdk() {
  const spans = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
  const reader = new Reader({ metricProducers: [kortexHistograms] })
  const meterProvider = new MeterProvider({ readers: [reader] })
  trace.setGlobalTracerProvider(tracerProvider)
  metrics.setGlobalMeterProvider(meterProvider)
  const collect = async () => {
    const { resourceMetrics } = await reader.collect()
    return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.map((m) => ({ scope: s.scope.name, ...m })))
  }
  /** Data points of one metric, or [] when it has none. */
  const points = async (name: string) => ((await collect()).find((m) => m.descriptor.name === name)?.dataPoints ?? []) as DataPoint<unknown>[]
  return { spans, collect, points, metric: async (name: string) => (await collect()).find((m) => m.descriptor.name === name) }
}

afterEach(() => {
  trace.disable()
  metrics.disable()
})

// Real epoch times: a small number would read as performance time.
const T0 = Date.UTC(2026, 10, 30, 12, 0, 0)
const hr = (ms: number) => [Math.floor(ms / 1000), (ms % 1000) * 1e6]

const streamedChat: RequestSummary = {
  op: 'chat',
  requestModel: 'gpt-4o',
  responseModel: 'gpt-4o-2024-08-06',
  provider: 'openai',
  backend: 'openai-main',
  route: 'chat-default',
  startTime: T0,
  endTime: T0 + 2500,
  ttftMs: 300,
  stream: true,
  status: 200,
  inputTokens: 1200,
  outputTokens: 350,
  cachedInputTokens: 1024,
  costNano: 6_250_000,
  currency: 'USD',
  team: 'search',
  feature: 'autocomplete',
  attempts: 1,
  requestId: 'req-1',
  experiment: 'exp-a',
  variant: 'control',
}

const hist = (p: DataPoint<unknown>) => p.value as Histogram

describe('recordRequest with an SDK installed', () => {
  it('a streamed chat: one CLIENT span "chat gpt-4o" with GenAI attributes and its times', () => {
    const { spans } = installSdk()
    recordRequest(streamedChat)
    const [span, ...more] = spans.getFinishedSpans()
    expect(more).toHaveLength(0)
    expect(span!.name).toBe('chat gpt-4o')
    expect(span!.kind).toBe(SpanKind.CLIENT)
    expect(span!.instrumentationScope.name).toBe('kortex')
    expect(span!.startTime).toEqual(hr(T0))
    expect(span!.endTime).toEqual(hr(T0 + 2500))
    expect(span!.duration).toEqual([2, 500_000_000])
    expect(span!.status.code).toBe(SpanStatusCode.UNSET)
    expect(span!.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.response.model': 'gpt-4o-2024-08-06',
      'gen_ai.request.stream': true,
      'gen_ai.usage.input_tokens': 1200,
      'gen_ai.usage.output_tokens': 350,
      'gen_ai.usage.cache_read.input_tokens': 1024,
      'gen_ai.response.time_to_first_chunk': 0.3,
      'http.response.status_code': 200,
      'kortex.route': 'chat-default',
      'kortex.backend': 'openai-main',
      'kortex.attempts': 1,
      'kortex.request_id': 'req-1',
      'kortex.cost': 0.00625,
      'kortex.currency': 'USD',
      'kortex.team': 'search',
      'kortex.feature': 'autocomplete',
      'kortex.experiment': 'exp-a',
      'kortex.variant': 'control',
    })
  })

  it('a streamed chat: token usage, duration, time to first chunk, requests and cost points', async () => {
    const { points, metric } = installSdk()
    recordRequest(streamedChat)
    const base = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.response.model': 'gpt-4o-2024-08-06',
    }

    const usage = await metric('gen_ai.client.token.usage')
    expect(usage!.descriptor.unit).toBe('{token}')
    expect(usage!.dataPointType).toBe(DataPointType.HISTOGRAM)
    const tokens = usage!.dataPoints as DataPoint<Histogram>[]
    expect(tokens.map((p) => p.attributes)).toEqual([
      { ...base, 'gen_ai.token.type': 'input' },
      { ...base, 'gen_ai.token.type': 'output' },
    ])
    expect(tokens.map((p) => [p.value.count, p.value.sum])).toEqual([[1, 1200], [1, 350]])
    expect(tokens[0]!.value.buckets.boundaries).toEqual(TOKEN_BUCKETS)

    const duration = await metric('gen_ai.client.operation.duration')
    expect(duration!.descriptor.unit).toBe('s')
    const [d, ...dMore] = duration!.dataPoints as DataPoint<Histogram>[]
    expect(dMore).toHaveLength(0)
    expect(d!.attributes).toEqual(base) // no error.type on success
    expect([d!.value.count, d!.value.sum]).toEqual([1, 2.5])
    expect(d!.value.buckets.boundaries).toEqual(SECONDS_BUCKETS)

    const ttfc = await metric('gen_ai.client.operation.time_to_first_chunk')
    expect(ttfc!.descriptor.unit).toBe('s')
    const [f] = ttfc!.dataPoints as DataPoint<Histogram>[]
    expect(f!.attributes).toEqual(base)
    expect([f!.value.count, f!.value.sum]).toEqual([1, 0.3])

    const requests = await points('kortex.requests')
    expect(requests.map((p) => [p.attributes, p.value])).toEqual([[{ route: 'chat-default', backend: 'openai-main', status_class: '2xx', outcome: 'served', reason: '' }, 1]])

    const cost = await metric('kortex.cost')
    expect(cost!.descriptor.unit).toBe('{currency}')
    expect(cost!.dataPoints.map((p) => [p.attributes, p.value])).toEqual([
      [{ route: 'chat-default', model: 'gpt-4o', currency: 'USD', backend: 'openai-main', team: 'search', feature: 'autocomplete' }, 0.00625],
    ])
  })

  it('never puts a request id, experiment or user on a metric attribute', async () => {
    const { collect } = installSdk()
    recordRequest(streamedChat)
    const keys = new Set((await collect()).flatMap((m) => (m.dataPoints as DataPoint<unknown>[]).flatMap((p) => Object.keys(p.attributes))))
    expect([...keys].filter((k) => /request_id|experiment|variant|user/.test(k))).toEqual([])
  })

  it('a failed request: error status, error.type on the span and the duration, 5xx counted, no tokens or first chunk', async () => {
    const { spans, points } = installSdk()
    recordRequest({
      op: 'chat',
      requestModel: 'claude-sonnet-4',
      provider: 'anthropic',
      backend: 'anthropic-eu',
      route: 'chat-default',
      startTime: T0,
      endTime: T0 + 30_000,
      stream: true,
      status: 504,
      errorType: 'upstream_timeout',
      attempts: 3,
      requestId: 'req-2',
    })
    const [span] = spans.getFinishedSpans()
    expect(span!.name).toBe('chat claude-sonnet-4')
    expect(span!.kind).toBe(SpanKind.CLIENT)
    expect(span!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'upstream_timeout' })
    expect(span!.duration).toEqual([30, 0])
    expect(span!.attributes).toMatchObject({
      'gen_ai.provider.name': 'anthropic',
      'error.type': 'upstream_timeout',
      'http.response.status_code': 504,
      'kortex.attempts': 3,
    })
    expect(span!.attributes).not.toHaveProperty('gen_ai.usage.input_tokens')
    expect(span!.attributes).not.toHaveProperty('gen_ai.response.time_to_first_chunk')
    expect(span!.attributes).not.toHaveProperty('gen_ai.response.model')

    const [d] = (await points('gen_ai.client.operation.duration')) as DataPoint<Histogram>[]
    expect(d!.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'claude-sonnet-4',
      'error.type': 'upstream_timeout',
    })
    expect([d!.value.count, d!.value.sum]).toEqual([1, 30])
    expect(await points('gen_ai.client.token.usage')).toEqual([])
    expect(await points('gen_ai.client.operation.time_to_first_chunk')).toEqual([])
    expect(await points('kortex.cost')).toEqual([])
    expect((await points('kortex.requests')).map((p) => [p.attributes, p.value])).toEqual([[{ route: 'chat-default', backend: 'anthropic-eu', status_class: '5xx', outcome: 'failed', reason: 'upstream_timeout' }, 1]])
  })

  it('a refusal before any backend: error.type falls back to the status, no provider or backend', async () => {
    const { spans, points } = installSdk()
    recordRequest({ op: 'completions', requestModel: 'gpt-3.5-turbo-instruct', route: 'r', startTime: T0, endTime: T0 + 2, stream: false, status: 429, attempts: 0, requestId: 'req-3' })
    const [span] = spans.getFinishedSpans()
    expect(span!.name).toBe('text_completion gpt-3.5-turbo-instruct')
    expect(span!.status.code).toBe(SpanStatusCode.ERROR)
    expect(span!.attributes['error.type']).toBe('429')
    expect(span!.attributes).not.toHaveProperty('gen_ai.provider.name')
    expect((await points('gen_ai.client.operation.duration'))[0]!.attributes).toEqual({
      'gen_ai.operation.name': 'text_completion',
      'gen_ai.request.model': 'gpt-3.5-turbo-instruct',
      'error.type': '429',
    })
    expect((await points('kortex.requests'))[0]!.attributes).toEqual({ route: 'r', backend: '', status_class: '4xx', outcome: 'failed', reason: '429' })
  })

  it('an embeddings call: "embeddings {model}", input tokens only, no first chunk; Azure maps to azure.ai.openai', async () => {
    const { spans, points } = installSdk()
    recordRequest({
      op: 'embeddings',
      requestModel: 'text-embedding-3-small',
      responseModel: 'text-embedding-3-small',
      provider: 'azure-openai',
      backend: 'azure-west',
      route: 'embed',
      startTime: T0,
      endTime: T0 + 80,
      stream: false,
      status: 200,
      inputTokens: 42,
      outputTokens: 0,
      costNano: 840,
      currency: 'EUR',
      team: 'ml',
      attempts: 1,
      requestId: 'req-4',
    })
    const [span] = spans.getFinishedSpans()
    expect(span!.name).toBe('embeddings text-embedding-3-small')
    expect(span!.kind).toBe(SpanKind.CLIENT)
    expect(span!.duration).toEqual([0, 80_000_000])
    expect(span!.attributes).toMatchObject({
      'gen_ai.operation.name': 'embeddings',
      'gen_ai.provider.name': 'azure.ai.openai',
      'gen_ai.usage.input_tokens': 42,
      'gen_ai.request.stream': false,
    })
    expect(span!.attributes).not.toHaveProperty('gen_ai.usage.output_tokens')
    expect(span!.attributes).not.toHaveProperty('gen_ai.response.time_to_first_chunk')

    const base = {
      'gen_ai.operation.name': 'embeddings',
      'gen_ai.provider.name': 'azure.ai.openai',
      'gen_ai.request.model': 'text-embedding-3-small',
      'gen_ai.response.model': 'text-embedding-3-small',
    }
    const tokens = (await points('gen_ai.client.token.usage')) as DataPoint<Histogram>[]
    expect(tokens.map((p) => [p.attributes, p.value.sum])).toEqual([[{ ...base, 'gen_ai.token.type': 'input' }, 42]])
    const [d] = (await points('gen_ai.client.operation.duration')) as DataPoint<Histogram>[]
    expect(d!.attributes).toEqual(base)
    expect(hist(d!).sum).toBeCloseTo(0.08, 10)
    expect(await points('gen_ai.client.operation.time_to_first_chunk')).toEqual([])
    expect((await points('kortex.cost')).map((p) => [p.attributes, p.value])).toEqual([
      [{ route: 'embed', model: 'text-embedding-3-small', currency: 'EUR', backend: 'azure-west', team: 'ml' }, 8.4e-7],
    ])
  })

  it('a non-streamed chat records no first-chunk time even when given one', async () => {
    const { spans, points } = installSdk()
    recordRequest({ ...streamedChat, stream: false })
    expect(spans.getFinishedSpans()[0]!.attributes).not.toHaveProperty('gen_ai.response.time_to_first_chunk')
    expect(await points('gen_ai.client.operation.time_to_first_chunk')).toEqual([])
  })

  it('requests add up per attribute set; an SDK installed after earlier calls is picked up', async () => {
    installSdk()
    trace.disable()
    metrics.disable()
    recordRequest(streamedChat) // no SDK now
    const { points, spans } = installSdk()
    recordRequest(streamedChat)
    recordRequest(streamedChat)
    recordRequest({ ...streamedChat, status: 503, errorType: 'upstream_error' })
    expect(spans.getFinishedSpans()).toHaveLength(3)
    expect((await points('kortex.requests')).map((p) => [p.attributes.status_class, p.value])).toEqual([['2xx', 2], ['5xx', 1]])
    expect((await points('kortex.cost')).map((p) => p.value)).toEqual([0.00625 * 3])
  })

  it('streams by outcome (completed, cut, cancelled) and a failover with its failed attempt and retry', async () => {
    const { points } = installSdk()
    recordRequest(streamedChat)
    recordRequest({ ...streamedChat, errorType: 'stream_error' })
    recordRequest({ ...streamedChat, cancelled: true })
    recordRequest({ ...streamedChat, stream: false, attempts: 2, failures: [{ backend: 'anthropic-eu' }] })
    expect((await points('kortex.streams')).map((p) => [p.attributes.outcome, p.value])).toEqual([['completed', 1], ['cut', 1], ['cancelled', 1]])
    expect((await points('kortex.requests')).map((p) => [p.attributes.outcome, p.value])).toEqual([['served', 3], ['failed_over', 1]])
    expect((await points('kortex.upstream.attempts')).map((p) => [p.attributes.backend, p.attributes.result, p.value])).toEqual([['openai-main', 'ok', 4], ['anthropic-eu', 'failed', 1]])
    expect((await points('kortex.upstream.retries')).map((p) => [p.attributes, p.value])).toEqual([[{ route: 'chat-default' }, 1]])
  })

  it('bounds a metric dimension: past its limit new values report other, spans keep them', async () => {
    const { points, spans } = installSdk()
    for (let i = 0; i < 250; i++) recordRequest({ ...streamedChat, team: `team-${i}` })
    const teams = new Set((await points('kortex.cost')).map((p) => p.attributes.team))
    expect(teams.size).toBeLessThanOrEqual(101)
    expect(teams.has('other')).toBe(true)
    expect(teams.has('team-0')).toBe(true)
    expect(spans.getFinishedSpans().at(-1)!.attributes['kortex.team']).toBe('team-249')
  })
})

describe('recordRequest without an SDK', () => {
  it('does nothing and does not throw', async () => {
    trace.disable()
    metrics.disable()
    expect(recordRequest(streamedChat)).toBeUndefined()
    expect(() => recordRequest({ ...streamedChat, startTime: NaN, endTime: NaN, status: 0 })).not.toThrow()
    // Nothing was buffered anywhere: an SDK installed now sees no span and no point.
    const { spans, collect } = installSdk()
    expect(spans.getFinishedSpans()).toEqual([])
    expect((await collect()).flatMap((m): DataPoint<unknown>[] => m.dataPoints)).toEqual([])
  })

  it('does not throw when the installed tracer does', () => {
    const broken: Tracer = {
      startSpan: () => {
        throw new Error('exporter on fire')
      },
      startActiveSpan: () => {
        throw new Error('exporter on fire')
      },
    }
    const provider: TracerProvider = { getTracer: () => broken }
    trace.setGlobalTracerProvider(provider)
    expect(() => recordRequest(streamedChat)).not.toThrow()
  })
})
