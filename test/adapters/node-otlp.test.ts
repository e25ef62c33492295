// An operator points the standard OTEL_* variables at a collector: the real
// gateway process exports its spans (continuing the caller's trace, one
// span per upstream attempt, the refusals too) and its metrics over OTLP.
// With no OTEL_* variable, no OpenTelemetry SDK or exporter is even loaded.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { startOpenAIUpstream, type OpenAIUpstream } from '../upstreams/openai.ts'
import { CLIENT, SERVER, loadedModules, startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp.ts'

const bin = new URL('../../bin/kortex.js', import.meta.url).pathname
const hook = new URL('../helpers/log-loads.mjs', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'kortex-otlp-'))
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT = '00f067aa0ba902b7'
const SDK_MODULE = /@opentelemetry\/(sdk-trace|exporter-(trace|metrics)-otlp|resources)/

let upstream: OpenAIUpstream
let receiver: OtlpReceiver
let config: string
let child: ChildProcess | undefined
beforeAll(async () => {
  upstream = await startOpenAIUpstream()
  receiver = await startOtlpReceiver()
  config = join(dir, 'kortex.yaml')
  writeFileSync(
    config,
    `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { open: true }, accessLog: false }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: busy }
spec: { type: external, external: { url: "${upstream.url}/mode/503/v1", model: busy-model } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: good }
spec: { type: external, external: { url: "${upstream.url}/mode/ok/v1", model: good-model } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: chat }
spec:
  models: [gpt-4o]
  defaultBackend: { name: busy }
  fallback: { backends: [good] }
  failover: { maxRetries: 0 }
`,
  )
})
afterAll(async () => {
  await upstream.close()
  await receiver.close()
})
// Each gateway flushes its exports as it stops: the next test starts after that.
afterEach(async () => {
  const c = child
  child = undefined
  if (!c || c.exitCode !== null) return
  const exited = new Promise((r) => c.once('exit', r))
  c.kill('SIGTERM')
  await exited
})

async function gateway(env: Record<string, string>, loads: string): Promise<string> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')))
  child = spawn(process.execPath, ['--import', hook, bin, '--config', config], { env: { ...clean, PORT: '0', KORTEX_TEST_LOADS: loads, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) resolve(m[1]!)
    }
    child!.stdout!.on('data', onData)
    child!.stderr!.on('data', onData)
    child!.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)))
  })
}

const chat = (url: string, model: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) })

it('OTLP/JSON to a collector: the server span continues the caller trace, each attempt is a GenAI CLIENT span whose traceparent the upstream got, a refusal has its span, metrics arrive', async () => {
  const loads = join(dir, 'loads-json.txt')
  const url = await gateway(
    {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer collector-token',
      OTEL_SERVICE_NAME: 'kortex-test',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=ci',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRIC_EXPORT_INTERVAL: '300',
    },
    loads,
  )
  const traceparent = `00-${TRACE}-${PARENT}-01`
  expect((await chat(url, 'gpt-4o', { traceparent })).status).toBe(200)
  expect((await chat(url, 'no-such-model', { traceparent })).status).toBe(404)

  await receiver.until(() => receiver.spans().filter((s) => s.kind === SERVER).length >= 2, 'two server spans')
  const spans = receiver.spans().filter((s) => s.traceId === TRACE)
  const [served, refused] = spans.filter((s) => s.kind === SERVER).sort((a, b) => Number(a.attributes['http.response.status_code']) - Number(b.attributes['http.response.status_code']))
  expect(served!).toMatchObject({ name: 'POST /v1/chat/completions', parentSpanId: PARENT, resource: { 'service.name': 'kortex-test', 'deployment.environment.name': 'ci' } })
  expect(served!.attributes).toMatchObject({ 'http.response.status_code': 200, 'gen_ai.request.model': 'gpt-4o', 'kortex.backend': 'good', 'kortex.attempts': 2 })
  expect(refused!).toMatchObject({ parentSpanId: PARENT, status: { code: 2 } })
  expect(refused!.attributes).toMatchObject({ 'http.response.status_code': 404, 'error.type': 'model_not_found' })

  const attempts = spans.filter((s) => s.kind === CLIENT)
  expect(attempts.map((s) => s.name).sort()).toEqual(['chat busy-model', 'chat good-model'])
  for (const a of attempts) expect(a.parentSpanId).toBe(served!.spanId)
  const good = attempts.find((s) => s.name === 'chat good-model')!
  const busy = attempts.find((s) => s.name === 'chat busy-model')!
  expect(good.attributes).toMatchObject({
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'good-model',
    'gen_ai.response.model': 'good-model',
    'gen_ai.usage.input_tokens': 9,
    'gen_ai.usage.output_tokens': 12,
    'server.address': '127.0.0.1',
  })
  expect(busy.attributes).toMatchObject({ 'error.type': '503', 'http.response.status_code': 503 })
  expect(busy.status?.code).toBe(2)
  // Each upstream call carried its own attempt's context.
  const sent = upstream.requests.filter((r) => r.path.endsWith('/chat/completions')).map((r) => r.headers.traceparent)
  expect(sent).toEqual(expect.arrayContaining([`00-${TRACE}-${busy.spanId}-01`, `00-${TRACE}-${good.spanId}-01`]))
  expect(receiver.posts.find((p) => p.path === '/v1/traces')!.headers.authorization).toBe('Bearer collector-token')

  await receiver.until(() => receiver.metricNames().includes('gen_ai.client.operation.duration'), 'the GenAI duration histogram')
  expect(receiver.metricNames()).toEqual(expect.arrayContaining(['gen_ai.client.token.usage', 'kortex.requests']))
  expect(loadedModules(loads).some((u) => SDK_MODULE.test(u))).toBe(true)
})

it('the default protocol is OTLP/protobuf: spans arrive as application/x-protobuf holding the names and the caller trace', async () => {
  receiver.posts.length = 0
  const url = await gateway({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`, OTEL_BSP_SCHEDULE_DELAY: '100' }, join(dir, 'loads-proto.txt'))
  const res = await chat(url, 'gpt-4o', { traceparent: `00-${TRACE}-${PARENT}-01` })
  expect(res.status, await res.clone().text()).toBe(200)
  await receiver.until(() => receiver.posts.some((p) => p.path === '/v1/traces' && p.body.includes('POST /v1/chat/completions')), 'a protobuf trace post')
  const post = receiver.posts.find((p) => p.path === '/v1/traces' && p.body.includes('POST /v1/chat/completions'))!
  expect(post.contentType).toBe('application/x-protobuf')
  expect(post.body.includes(Buffer.from(TRACE, 'hex'))).toBe(true)
  expect(post.body.includes('chat good-model')).toBe(true)
  // Metrics were not asked for (only the traces endpoint): none sent.
  expect(receiver.posts.filter((p) => p.path === '/v1/metrics').map((p) => p.contentType)).toEqual([])
})

it('with no OTEL_* variable set, no OpenTelemetry SDK or exporter module is loaded', async () => {
  receiver.posts.length = 0
  const loads = join(dir, 'loads-none.txt')
  const url = await gateway({}, loads)
  const res = await chat(url, 'gpt-4o', { traceparent: `00-${TRACE}-${PARENT}-01` })
  expect(res.status, await res.clone().text()).toBe(200)
  const loaded = loadedModules(loads)
  expect(loaded.some((u) => u.includes('/adapters/node/') || u.includes('kortex'))).toBe(true)
  expect(loaded.filter((u) => SDK_MODULE.test(u))).toEqual([])
})
