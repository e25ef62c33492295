// The gateway reports every request through OpenTelemetry as it runs: a
// SERVER span that continues the client's traceparent, one GenAI CLIENT span
// per upstream attempt (retries and failovers side by side) whose context
// the upstream receives as `traceparent`, and a span with the reason for
// requests refused before any upstream call.
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest'
import { SpanKind, SpanStatusCode, propagation, trace } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { sampleRootsAt } from '../../src/telemetry/trace.ts'
import { backendsYaml, fakeFleet, keyedGateway, openGateway, routeYaml, testGateway, type FakeFleet } from '../helpers/fake-fleet.ts'

const spans = new InMemorySpanExporter()
beforeAll(() => {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }))
  propagation.setGlobalPropagator(new W3CTraceContextPropagator())
})
afterAll(() => {
  trace.disable()
  propagation.disable()
})
beforeEach(() => spans.reset())

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const CLIENT_SPAN = '00f067aa0ba902b7'

/** The fleet, remembering the traceparent each upstream call carried. */
function tracedFleet(): FakeFleet & { traceparents: string[] } {
  const fleet = fakeFleet()
  const traceparents: string[] = []
  const fetch = fleet.fetch
  fleet.fetch = (input, init) => {
    traceparents.push(new Headers(init?.headers).get('traceparent') ?? '')
    return fetch(input, init)
  }
  return Object.assign(fleet, { traceparents })
}

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId
const finished = () => spans.getFinishedSpans()

it('a failover under a client trace: the server span is its child, each attempt a CLIENT sibling whose context the upstream received', async () => {
  const fleet = tracedFleet()
  const gw = await testGateway(`${openGateway}---\n${backendsYaml(['a', 'b'])}${routeYaml('  defaultBackend: { name: a }\n  fallback: { backends: [b] }\n')}`, fleet)
  fleet.set('a', { status: 503 })
  const res = await gw.chat({ traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, tracestate: 'vendor=x' }, { model: 'gpt-4o' })
  expect(res.status).toBe(200)
  await gw.settle()

  const server = finished().find((s) => s.kind === SpanKind.SERVER)!
  expect(server.name).toBe('POST /v1/chat/completions')
  expect(server.spanContext().traceId).toBe(CLIENT_TRACE)
  expect(parentOf(server)).toBe(CLIENT_SPAN)
  expect(server.spanContext().traceState?.get('vendor')).toBe('x')
  expect(server.attributes).toMatchObject({ 'http.response.status_code': 200, 'gen_ai.request.model': 'gpt-4o', 'kortex.route': 'r', 'kortex.backend': 'b', 'kortex.attempts': 2 })

  const [failedAttempt, answered] = finished().filter((s) => s.kind === SpanKind.CLIENT)
  expect([failedAttempt!.name, answered!.name]).toEqual(['chat a-model', 'chat b-model'])
  for (const s of [failedAttempt!, answered!]) {
    expect(s.spanContext().traceId).toBe(CLIENT_TRACE)
    expect(parentOf(s)).toBe(server.spanContext().spanId)
  }
  expect(failedAttempt!.status.code).toBe(SpanStatusCode.ERROR)
  expect(failedAttempt!.attributes).toMatchObject({ 'error.type': '503', 'http.response.status_code': 503, 'server.address': 'a.test', 'gen_ai.provider.name': 'openai' })
  expect(answered!.attributes).toMatchObject({
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'b-model',
    'gen_ai.response.model': 'b-model',
    'gen_ai.usage.input_tokens': 9,
    'gen_ai.usage.output_tokens': 12,
    'server.address': 'b.test',
    'server.port': 80,
  })
  // Each upstream got its own attempt's context, with the client's trace state.
  expect(fleet.traceparents).toEqual([
    `00-${CLIENT_TRACE}-${failedAttempt!.spanContext().spanId}-01`,
    `00-${CLIENT_TRACE}-${answered!.spanContext().spanId}-01`,
  ])
  // No prompt or completion unless the config opts in.
  expect(Object.keys(answered!.attributes).filter((k) => k.includes('messages'))).toEqual([])
})

it('a request every backend failed: the server span says so with the status and error type', async () => {
  const fleet = tracedFleet()
  const gw = await testGateway(`${openGateway}---\n${backendsYaml(['a'])}${routeYaml('  defaultBackend: { name: a }\n')}`, fleet)
  fleet.set('a', { status: 503 })
  expect((await gw.chat({}, { model: 'gpt-4o' })).status).toBe(502)
  await gw.settle()
  const server = finished().find((s) => s.kind === SpanKind.SERVER)!
  expect(server.status.code).toBe(SpanStatusCode.ERROR)
  expect(server.attributes).toMatchObject({ 'http.response.status_code': 502, 'error.type': 'upstream_server_error' })
  expect(finished().filter((s) => s.kind === SpanKind.CLIENT).map((s) => parentOf(s))).toContain(server.spanContext().spanId)
})

it('refused before any upstream call (a wrong key, an unknown model): a server span with the reason, no attempt span, no upstream call', async () => {
  const fleet = tracedFleet()
  const gw = await testGateway(`${keyedGateway(['{ name: k, key: test-right }'])}---\n${backendsYaml(['a'])}${routeYaml('  defaultBackend: { name: a }\n')}`, fleet)
  expect((await gw.chat({ authorization: 'Bearer test-wrong', traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` }, { model: 'gpt-4o' })).status).toBe(401)
  await gw.settle()
  const [refused] = finished()
  expect(finished()).toHaveLength(1)
  expect(refused!.kind).toBe(SpanKind.SERVER)
  expect(parentOf(refused!)).toBe(CLIENT_SPAN)
  expect(refused!.status.code).toBe(SpanStatusCode.ERROR)
  expect(refused!.attributes).toMatchObject({ 'http.response.status_code': 401, 'error.type': 'invalid_api_key' })
  expect(fleet.traceparents).toEqual([])
})

it('prompts and completions go on the attempt span only when the GatewayConfig opts in (telemetry.recordContent)', async () => {
  const fleet = tracedFleet()
  const optIn = openGateway.replace('accessLog: false', 'accessLog: false, telemetry: { recordContent: true }')
  const gw = await testGateway(`${optIn}---\n${backendsYaml(['a'])}${routeYaml('  defaultBackend: { name: a }\n')}`, fleet)
  await gw.chat({}, { model: 'gpt-4o', messages: [{ role: 'user', content: 'a secret plan' }] })
  await gw.settle()
  const attempt = finished().find((s) => s.kind === SpanKind.CLIENT)!
  expect(attempt.attributes['gen_ai.input.messages']).toContain('a secret plan')
  expect(attempt.attributes['gen_ai.output.messages']).toContain('from a')
})

it('a caller trace the sampler leaves out: no spans, and the upstream still gets the trace, marked unsampled', async () => {
  const fleet = tracedFleet()
  const gw = await testGateway(`${openGateway}---\n${backendsYaml(['a'])}${routeYaml('  defaultBackend: { name: a }\n')}`, fleet)
  expect((await gw.chat({ traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-00` }, { model: 'gpt-4o' })).status).toBe(200)
  await gw.settle()
  expect(finished()).toEqual([])
  expect(fleet.traceparents).toHaveLength(1)
  expect(fleet.traceparents[0]).toMatch(new RegExp(`^00-${CLIENT_TRACE}-[0-9a-f]{16}-00$`))
})

it("Kortex's default sampler: untraced requests outside the ratio are left out before the SDK (no span, no traceparent upstream); a caller's sampled trace is always continued", async () => {
  const fleet = tracedFleet()
  const gw = await testGateway(`${openGateway}---\n${backendsYaml(['a'])}${routeYaml('  defaultBackend: { name: a }\n')}`, fleet)
  sampleRootsAt(0)
  try {
    for (let i = 0; i < 5; i++) expect((await gw.chat({}, { model: 'gpt-4o' })).status).toBe(200)
    expect((await gw.chat({ traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` }, { model: 'gpt-4o' })).status).toBe(200)
    await gw.settle()
    expect(fleet.traceparents.slice(0, 5)).toEqual(['', '', '', '', ''])
    expect(finished().map((s) => s.spanContext().traceId)).toEqual([CLIENT_TRACE, CLIENT_TRACE])
    sampleRootsAt(1)
    expect((await gw.chat({}, { model: 'gpt-4o' })).status).toBe(200)
    await gw.settle()
    expect(finished()).toHaveLength(4)
  } finally {
    sampleRootsAt(undefined)
  }
})
