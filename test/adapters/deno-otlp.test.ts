// Kortex on Deno exports OTLP from the same OTEL_* environment as on Node
// (the SDK's exporters run on Deno), and with OTEL_DENO=true Deno's own
// export carries the gateway's spans inside its server and fetch spans:
// one trace from the caller to the upstream either way, metrics whole.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startOpenAIUpstream, type OpenAIUpstream } from '../upstreams/openai.ts'
import { CLIENT, SERVER, startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp.ts'
import { startDeno } from '../conformance/runtimes.ts'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT = '00f067aa0ba902b7'
let upstream: OpenAIUpstream
let receiver: OtlpReceiver
beforeAll(async () => {
  upstream = await startOpenAIUpstream()
  receiver = await startOtlpReceiver()
})
afterAll(async () => {
  await upstream.close()
  await receiver.close()
})

const config = () => `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { open: true }, accessLog: false }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: good }
spec: { type: external, external: { url: "${upstream.url}/mode/ok/v1", model: good-model } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: chat }
spec: { models: [gpt-4o], defaultBackend: { name: good } }
`

async function traced(env: Record<string, string>) {
  receiver.posts.length = 0
  upstream.requests.length = 0
  const deno = await startDeno({ KORTEX_CONFIG_YAML: config(), OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_METRIC_EXPORT_INTERVAL: '300', ...env })
  try {
    const res = await fetch(`${deno.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${TRACE}-${PARENT}-01` },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi deno' }] }),
    })
    expect(res.status).toBe(200)
    await res.text()
    await receiver.until(() => receiver.spans().some((s) => s.name === 'chat good-model'), 'the attempt span', 30_000)
    await receiver.until(() => receiver.metricNames().includes('kortex.requests'), 'Kortex metrics', 30_000)
    const scrape = await (await fetch(`${deno.url}/metrics`)).text()
    return { spans: receiver.spans().filter((s) => s.traceId === TRACE), metricNames: receiver.metricNames(), scrape, sent: upstream.requests.map((r) => r.headers.traceparent) }
  } finally {
    await deno.close()
  }
}

it('the standard OTEL_* environment: server span under the caller, GenAI attempt span, its traceparent upstream, GenAI metrics over OTLP', async () => {
  const { spans, metricNames, sent } = await traced({ OTEL_SERVICE_NAME: 'kortex-deno' })
  const server = spans.find((s) => s.kind === SERVER)!
  const attempt = spans.find((s) => s.kind === CLIENT)!
  expect(server).toMatchObject({ name: 'POST /v1/chat/completions', parentSpanId: PARENT, resource: { 'service.name': 'kortex-deno' } })
  expect(attempt).toMatchObject({ name: 'chat good-model', parentSpanId: server.spanId })
  expect(attempt.attributes).toMatchObject({ 'gen_ai.provider.name': 'openai', 'gen_ai.response.model': 'good-model', 'gen_ai.usage.input_tokens': 9, 'gen_ai.usage.output_tokens': 12 })
  expect(sent).toEqual([`00-${TRACE}-${attempt.spanId}-01`])
  expect(metricNames).toEqual(expect.arrayContaining(['gen_ai.client.operation.duration', 'gen_ai.client.token.usage', 'kortex.requests']))
}, 90_000)

it("OTEL_DENO=true: Deno's server and fetch spans wrap the gateway's, one traceparent goes upstream, /metrics stays whole", async () => {
  const { spans, sent, scrape, metricNames } = await traced({ OTEL_DENO: 'true' })
  const denoServer = spans.find((s) => s.kind === SERVER)!
  const request = spans.find((s) => s.name === 'POST /v1/chat/completions')!
  const attempt = spans.find((s) => s.name === 'chat good-model')!
  const denoFetch = spans.find((s) => s.kind === CLIENT && s.parentSpanId === attempt.spanId)!
  expect(denoServer.parentSpanId).toBe(PARENT)
  expect(request.parentSpanId).toBe(denoServer.spanId)
  expect(attempt.parentSpanId).toBe(request.spanId)
  // The upstream gets one traceparent: Deno's fetch span, inside the attempt.
  expect(sent).toEqual([`00-${TRACE}-${denoFetch.spanId}-01`])
  expect(scrape).toMatch(/^kortex_requests_total\{route="chat",backend="good"/m)
  expect(scrape).toMatch(/^gen_ai_client_operation_duration_seconds_count/m)
  expect(metricNames).toEqual(expect.arrayContaining(['gen_ai.client.operation.duration', 'kortex.requests']))
}, 90_000)
