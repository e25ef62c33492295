// GET /metrics on the Node gateway, as a Prometheus server or an operator
// with curl sees it: the GenAI and Kortex metrics under their Prometheus
// names, refusals with their reason, OpenMetrics when asked, a port of its own.
import { afterEach, describe, expect, it } from 'vitest'
import { startKortex, type Kortex } from '../../adapters/node/start.ts'

const quiet = { notice: () => {}, log: { record() {}, warn() {}, error() {} } }
const chat = (model: string, stream = false) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hi' }] }) })
const sample = (text: string, series: string) => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.slice(series.length + 1) ?? NaN)

// Priced, so every request has a cost series; the key of team payments is allowed though the list does not name it.
const labelledConfig = `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: labelled }
spec:
  accessLog: false
  auth:
    keys:
      - { name: payments-app, key: test-payments-0001, team: payments }
      - { name: shared-app, key: test-teamless-0001 }
  telemetry:
    labels:
      feature: [search, chat]
      team: [growth]
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: kortex-demo }
spec:
  type: demo
  cost: { inputTokenCost: "0.001", outputTokenCost: "0.002", currency: USD }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: demo }
spec:
  models: [kortex-demo]
  defaultBackend: { name: kortex-demo }
`

let k: Kortex | undefined
const saved = { ...process.env }
afterEach(async () => {
  await k?.close()
  k = undefined
  for (const n of ['KORTEX_METRICS', 'KORTEX_METRICS_PATH', 'KORTEX_METRICS_PORT']) {
    if (saved[n] === undefined) delete process.env[n]
    else process.env[n] = saved[n]
  }
})

describe('GET /metrics on Node', () => {
  it('counts served requests and refusals with their reason, under the Prometheus names', async () => {
    k = await startKortex({ port: 0, ...quiet })
    const before = await (await fetch(`${k.url}/metrics`)).text()
    const refusedBefore = sample(before, 'kortex_requests_total{route="",backend="",status_class="4xx",outcome="refused",reason="model_not_found"}') || 0
    for (const r of await Promise.all([fetch(`${k.url}/v1/chat/completions`, chat('kortex-demo')), fetch(`${k.url}/v1/chat/completions`, chat('kortex-demo', true)), fetch(`${k.url}/v1/chat/completions`, chat('no-such-model'))])) await r.text()
    await new Promise((r) => setTimeout(r, 50)) // metrics are recorded after the response
    const res = await fetch(`${k.url}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    const text = await res.text()
    expect(sample(text, 'kortex_requests_total{route="",backend="",status_class="4xx",outcome="refused",reason="model_not_found"}')).toBe(refusedBefore + 1)
    expect(text).toMatch(/^kortex_requests_total\{route="demo",backend="kortex-demo",status_class="2xx",outcome="served",reason=""\} \d+$/m)
    expect(text).toMatch(/^gen_ai_client_operation_duration_seconds_bucket\{gen_ai_operation_name="chat",gen_ai_request_model="kortex-demo",gen_ai_provider_name="demo",.*le="\+Inf"\} \d+$/m)
    expect(text).toMatch(/^gen_ai_client_token_usage_bucket\{.*gen_ai_token_type="output",le="\+Inf"\} \d+$/m)
    expect(text).toMatch(/^gen_ai_client_operation_time_to_first_chunk_seconds_count\{/m)
    expect(text).toMatch(/^kortex_streams_total\{route="demo",backend="kortex-demo",outcome="completed"\} \d+$/m)
    expect(sample(text, 'kortex_breaker_state{backend="kortex-demo",state="closed"}')).toBe(1)
    expect(sample(text, 'kortex_route_backends_available{route="demo"}')).toBe(1)
    expect(text).not.toMatch(/# UNIT|request_id|x-request-id/)
  })

  it('attribution labels come only from telemetry.labels: any other feature or header team is `other` at once, the teams of keys always pass', async () => {
    k = await startKortex({ port: 0, ...quiet, configText: labelledConfig })
    const send = (key: string, feature: string, team?: string) =>
      fetch(`${k!.url}/v1/chat/completions`, { ...chat('kortex-demo'), headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-feature-id': feature, ...(team ? { 'x-team-id': team } : {}) } })
    for (const r of await Promise.all([
      send('test-payments-0001', 'search'),
      send('test-payments-0001', 'chat'),
      send('test-payments-0001', 'user-4711-experiment'), // a feature nobody listed: not a series of its own, even below the cap
      send('test-teamless-0001', 'search', 'growth'), // a listed team from the header
      send('test-teamless-0001', 'search', 'alice@example.com'), // a header team nobody listed
    ]))
      expect(r.status).toBe(200)
    await new Promise((r) => setTimeout(r, 50)) // metrics are recorded after the response
    const text = await (await fetch(`${k.url}/metrics`)).text()
    const cost = text.split('\n').filter((l) => l.startsWith('kortex_cost_total{'))
    const labels = (name: string) => new Set(cost.map((l) => l.match(new RegExp(`${name}="([^"]*)"`))?.[1]))
    expect(labels('feature')).toEqual(new Set(['search', 'chat', 'other']))
    expect(labels('team')).toEqual(new Set(['payments', 'growth', 'other']))
    expect(text).not.toMatch(/user-4711|alice@example/)
  })

  it('answers in OpenMetrics when the Accept header asks for it (as Prometheus does)', async () => {
    k = await startKortex({ port: 0, ...quiet })
    await (await fetch(`${k.url}/v1/chat/completions`, chat('kortex-demo'))).text()
    await new Promise((r) => setTimeout(r, 50))
    const res = await fetch(`${k.url}/metrics`, { headers: { accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' } })
    expect(res.headers.get('content-type')).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8')
    const text = await res.text()
    expect(text.endsWith('# EOF\n')).toBe(true)
    expect(text).toMatch(/^# TYPE kortex_requests counter$/m)
    expect(text).toMatch(/^kortex_requests_total\{/m)
  })

  it('KORTEX_METRICS_PORT and _PATH move the exposition off the gateway port; KORTEX_METRICS=off turns it off', async () => {
    process.env.KORTEX_METRICS_PORT = '0'
    process.env.KORTEX_METRICS_PATH = '/internal/metrics'
    k = await startKortex({ port: 0, ...quiet })
    expect(k.metricsUrl).toBeDefined()
    expect((await fetch(`${k.metricsUrl}/internal/metrics`)).status).toBe(200)
    expect((await fetch(`${k.url}/internal/metrics`)).status).toBe(404)
    expect((await fetch(`${k.url}/metrics`)).status).toBe(404)
    await k.close()
    delete process.env.KORTEX_METRICS_PORT
    delete process.env.KORTEX_METRICS_PATH
    process.env.KORTEX_METRICS = 'off'
    k = await startKortex({ port: 0, ...quiet })
    expect(k.metricsUrl).toBeUndefined()
    const off = await fetch(`${k.url}/metrics`)
    expect(off.status).toBe(404)
    expect(((await off.json()) as { error: { code: string } }).error.code).toBe('unknown_url')
  })
})
