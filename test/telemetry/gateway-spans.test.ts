// The gateway reports every request through OpenTelemetry: one GenAI client
// span per request, answered or refused, with what an observability
// backend reads (operation, provider, models, tokens, error type).
import { afterAll, beforeAll, expect, it } from 'vitest'
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { backendsYaml, fakeFleet, openGateway, routeYaml, testGateway } from '../helpers/fake-fleet.ts'

const spans = new InMemorySpanExporter()
beforeAll(() => void trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })))
afterAll(() => trace.disable())

it('a span per request: answered with usage, or failed with its error type', async () => {
  const fleet = fakeFleet()
  const gw = await testGateway(`${openGateway}---\n${backendsYaml(['a'])}${routeYaml('  defaultBackend: { name: a }\n')}`, fleet)
  await gw.chat({}, { model: 'gpt-4o' })
  fleet.set('a', { status: 503 })
  await gw.chat({}, { model: 'gpt-4o' })
  await gw.settle()
  const [ok, failed] = spans.getFinishedSpans()
  expect(ok!.name).toBe('chat gpt-4o')
  expect(ok!.kind).toBe(SpanKind.CLIENT)
  expect(ok!.attributes).toMatchObject({
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'gpt-4o',
    'gen_ai.response.model': 'a-model',
    'gen_ai.usage.input_tokens': 9,
    'gen_ai.usage.output_tokens': 12,
    'kortex.backend': 'a',
  })
  expect(failed!.status.code).toBe(SpanStatusCode.ERROR)
  expect(failed!.attributes['error.type']).toBe('upstream_server_error')
})
