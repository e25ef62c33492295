// The Worker at the edge, in workerd (miniflare): two Worker isolates bound
// to the same KortexState Durable Objects enforce one rate limit together and
// see each other's breaker trips; config pulled from a controller (ETag,
// refresh from the request path and the Cron Trigger, last good config kept).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Miniflare } from 'miniflare'
import { startServer, type TestServer } from '../helpers/server.ts'
import { startOpenAIUpstream, type OpenAIUpstream } from '../upstreams/openai.ts'
import { buildWorker, workerOptions, type BuiltWorker } from './cloudflare-harness.ts'

/** The open gateway and a healthy backend `good`, which both configs start from. */
const edgeBase = (up: OpenAIUpstream) => `
apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: edge }
spec: { auth: { open: true }, accessLog: false }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: good }
spec: { type: external, external: { url: "${up.base('ok')}", model: gpt-4o-mini } }
`

const sharedConfig = (up: OpenAIUpstream) => `${edgeBase(up)}---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: bad }
spec:
  type: external
  external: { url: "${up.base('503')}", model: gpt-4o-mini }
  circuitBreaker: { consecutiveFailures: 2, cooldownSeconds: 300, maxCooldownSeconds: 300, jitter: none }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: limited }
spec:
  models: [limited]
  defaultBackend: { name: good }
  rateLimit: { requestsPerHour: 10 }   # no refill while the test runs, however slow the machine
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: flaky }
spec:
  models: [flaky]
  defaultBackend: { name: bad }
  fallback: { backends: [good] }
  failover: { initialBackoffMs: 0, maxBackoffMs: 0 }
`

// A controller's GET /config: a KortexConfig document with an ETag, 304 when unchanged.
let doc = { version: 'v1', model: 'pulled-one' }
let controllerDown = false
/** /late-config: down until a test brings it up. */
let lateUp = false
const pulls: Array<{ auth?: string; ifNoneMatch?: string }> = []
const controllerDoc = () => ({
  kind: 'KortexConfig',
  version: doc.version,
  resources: [
    { apiVersion: 'gateway.kortex.io/v1alpha1', kind: 'GatewayConfig', metadata: { name: 'g' }, spec: { auth: { open: true }, accessLog: false } },
    { apiVersion: 'gateway.kortex.io/v1alpha1', kind: 'InferenceBackend', metadata: { name: 'echo' }, spec: { type: 'demo' } },
    { apiVersion: 'gateway.kortex.io/v1alpha1', kind: 'InferenceRoute', metadata: { name: 'r' }, spec: { models: [doc.model], defaultBackend: { name: 'echo' } } },
  ],
})
function controller(req: IncomingMessage, res: ServerResponse) {
  if (req.url === '/late-config') {
    if (!lateUp) return void res.writeHead(503).end('starting')
    return void res.writeHead(200, { 'content-type': 'application/json', etag: '"late"' }).end(JSON.stringify({ ...controllerDoc(), version: 'late' }))
  }
  pulls.push({ auth: req.headers.authorization, ifNoneMatch: req.headers['if-none-match'] as string | undefined })
  if (controllerDown) {
    res.writeHead(500).end('down')
    return
  }
  const etag = `"${doc.version}"`
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, { etag }).end()
    return
  }
  res.writeHead(200, { 'content-type': 'application/json', etag }).end(JSON.stringify(controllerDoc()))
}

// OTLP/JSON metrics, as much of them as the tests read.
type OtlpPoint = { attributes: Array<{ key: string; value: { stringValue?: string } }>; asInt?: number; asDouble?: number; count?: number | string }
type OtlpMetrics = { resourceMetrics: Array<{ resource: unknown; scopeMetrics: Array<{ metrics: Array<{ name: string; sum: { dataPoints: OtlpPoint[] }; histogram: { dataPoints: OtlpPoint[] } }> }> }> }
const attr = (p: OtlpPoint, key: string) => p.attributes.find((a) => a.key === key)?.value.stringValue

// An OTLP/HTTP collector: what otel-cf-workers exports, and the Worker's metrics.
const exported: Array<{ path: string; body: string }> = []
function collector(req: IncomingMessage, res: ServerResponse) {
  let body = ''
  req.setEncoding('utf8').on('data', (d: string) => (body += d))
  req.on('end', () => {
    exported.push({ path: req.url ?? '', body })
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
  })
}

const healthConfig = (up: OpenAIUpstream) => `${edgeBase(up)}---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: sick }
spec:
  type: external
  external: { url: "${up.base('503')}", model: gpt-4o-mini }
  healthCheck: { failureThreshold: 1 }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: probed }
spec:
  models: [probed]
  defaultBackend: { name: sick }
  fallback: { backends: [good] }
  failover: { initialBackoffMs: 0, maxBackoffMs: 0 }
`

let worker: BuiltWorker
let otel: TestServer
let mf: Miniflare
let up: OpenAIUpstream
let ctl: TestServer
const url = (w: string, path: string) => `http://${w}.kortex.test${path}`
const chat = (model: string) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

beforeAll(async () => {
  worker = await buildWorker()
  up = await startOpenAIUpstream()
  ctl = await startServer(controller)
  otel = await startServer(collector)
  const shared = { KORTEX_CONFIG: sharedConfig(up) }
  mf = new Miniflare({
    workers: [
      // Two Workers (two isolates) over the same objects: edge-b binds edge-a's KortexState class.
      workerOptions(worker, 'edge-a', shared),
      workerOptions(worker, 'edge-b', shared, { state: 'edge-a' }),
      workerOptions(worker, 'traced', { KORTEX_CONFIG: sharedConfig(up), OTEL_EXPORTER_OTLP_ENDPOINT: otel.url, OTEL_SERVICE_NAME: 'kortex-edge-test' }, { state: false }),
      // Metrics only (no traces endpoint), exported after every request.
      workerOptions(worker, 'metered', { KORTEX_CONFIG: sharedConfig(up), OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${otel.url}/v1/metrics`, OTEL_METRIC_EXPORT_INTERVAL: '0', OTEL_SERVICE_NAME: 'kortex-edge-metrics' }, { state: false }),
      workerOptions(worker, 'throttled', { KORTEX_CONFIG: sharedConfig(up), OTEL_EXPORTER_OTLP_ENDPOINT: otel.url, OTEL_METRIC_EXPORT_INTERVAL: '600000', OTEL_SERVICE_NAME: 'kortex-edge-throttled' }, { state: false }),
      workerOptions(worker, 'health', { KORTEX_CONFIG: healthConfig(up) }, { state: false }),
      workerOptions(worker, 'late', { KORTEX_CONFIG_URL: `${ctl.url}/late-config` }, { state: false }),
      workerOptions(worker, 'pulled', { KORTEX_CONFIG_URL: `${ctl.url}/config`, KORTEX_CONFIG_TOKEN: 'ctl-token', KORTEX_CONFIG_REFRESH_SECONDS: '0' }, { state: false }),
    ],
  })
  await mf.ready
})

afterAll(async () => {
  await mf?.dispose()
  await up?.close()
  await ctl?.close()
  await otel?.close()
  await worker?.remove()
})

describe('Workers with Durable Objects as the StateStore', () => {
  it('two isolates sharing the objects enforce one rate limit together', async () => {
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => mf.dispatchFetch(url(i % 2 ? 'edge-b' : 'edge-a', '/v1/chat/completions'), chat('limited'))))
    const statuses = results.map((r) => r.status)
    await Promise.all(results.map((r) => r.text()))
    expect(statuses.filter((s) => s === 200)).toHaveLength(10)
    expect(statuses.filter((s) => s === 429)).toHaveLength(20)
    // Both isolates served some and refused some: the limit is one, not one each.
    const byWorker = (odd: number) => statuses.filter((_, i) => i % 2 === odd)
    expect(byWorker(0).filter((s) => s === 200).length + byWorker(1).filter((s) => s === 200).length).toBe(10)
    const refused = results.find((r) => r.status === 429)!
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(refused.headers.get('x-ratelimit-limit-requests')).toBe('10')
  })

  it('a breaker opened in one isolate is seen by the other', async () => {
    const badHits = () => up.requests.filter((r) => r.path.startsWith('/mode/503/')).length
    // edge-b uses the flaky route once while everything is closed: it tries bad, then good.
    const b0 = await mf.dispatchFetch(url('edge-b', '/v1/chat/completions'), chat('flaky'))
    expect(b0.status).toBe(200)
    expect(b0.headers.get('x-kortex-attempts')).toBe('2')
    await b0.text()
    // The breaker on edge-b has one failure (threshold 2). Two failures on edge-a open it there.
    for (let i = 0; i < 2; i++) {
      const r = await mf.dispatchFetch(url('edge-a', '/v1/chat/completions'), chat('flaky'))
      expect(r.status).toBe(200)
      expect(r.headers.get('x-kortex-backend')).toBe('good')
      await r.text()
    }
    const a = await mf.dispatchFetch(url('edge-a', '/v1/chat/completions'), chat('flaky'))
    expect(a.headers.get('x-kortex-attempts')).toBe('1') // open on edge-a: bad skipped
    await a.text()
    // edge-b learns of the trip in the background (its refresh, every 2 s at most, is off the request path).
    let skipped = false
    for (let i = 0; i < 60 && !skipped; i++) {
      const before = badHits()
      const r = await mf.dispatchFetch(url('edge-b', '/v1/chat/completions'), chat('flaky'))
      expect(r.status).toBe(200)
      await r.text()
      skipped = r.headers.get('x-kortex-attempts') === '1' && badHits() === before
      if (!skipped) await sleep(100)
    }
    expect(skipped).toBe(true)
    // And it stays open there: edge-b's own breaker never reached its threshold, the trip came from edge-a.
    const after = badHits()
    for (let i = 0; i < 3; i++) await (await mf.dispatchFetch(url('edge-b', '/v1/chat/completions'), chat('flaky'))).text()
    expect(badHits()).toBe(after)
  })
})

describe('Workers config from the controller', () => {
  const models = async () => ((await (await mf.dispatchFetch(url('pulled', '/v1/models'))).json()) as any).data.map((m: any) => m.id)

  it('serves the pulled config, refreshes it with ETag in the background, and keeps the last good one when the controller fails', async () => {
    expect(await models()).toEqual(['pulled-one'])
    expect(pulls[0]!.auth).toBe('Bearer ctl-token')
    doc = { version: 'v2', model: 'pulled-two' }
    // The next request starts a background pull; one after it sees the new config.
    let seen: string[] = []
    for (let i = 0; i < 20 && seen[0] !== 'pulled-two'; i++) {
      seen = await models()
      if (seen[0] !== 'pulled-two') await sleep(50)
    }
    expect(seen).toEqual(['pulled-two'])
    expect(pulls.some((p) => p.ifNoneMatch === '"v1"')).toBe(true)
    controllerDown = true
    const n = pulls.length
    for (let i = 0; i < 3; i++) expect(await models()).toEqual(['pulled-two'])
    await sleep(100)
    expect(pulls.length).toBeGreaterThan(n)
    expect(await models()).toEqual(['pulled-two'])
    controllerDown = false
  })

  it('answers 503 not_ready (never the demo config) until the controller first answers, then serves its config', async () => {
    const first = await mf.dispatchFetch(url('late', '/v1/models'))
    expect(first.status).toBe(503)
    expect(((await first.json()) as any).error.code).toBe('not_ready')
    lateUp = true
    let status = 0
    for (let i = 0; i < 40 && status !== 200; i++) {
      await sleep(100)
      const r = await mf.dispatchFetch(url('late', '/v1/models'))
      status = r.status
      await r.text()
    }
    expect(status).toBe(200)
  })

  it('pulls on the Cron Trigger', async () => {
    doc = { version: 'v3', model: 'pulled-by-cron' }
    const before = pulls.length
    // The Fetcher miniflare hands out has scheduled() (its types say Request's), as a cron would call it.
    const w = (await mf.getWorker('pulled')) as unknown as { scheduled(o: { cron: string }): Promise<unknown> }
    await w.scheduled({ cron: '* * * * *' })
    expect(pulls.length).toBeGreaterThan(before)
    expect(await models()).toEqual(['pulled-by-cron'])
  })
})

describe('Workers health checks on the Cron Trigger', () => {
  it('probes the backends on cron, and keeps traffic off one that failed its probe', async () => {
    const chatHits = () => up.requests.filter((r) => r.path === '/mode/503/v1/chat/completions').length
    const first = await mf.dispatchFetch(url('health', '/v1/chat/completions'), chat('probed'))
    expect(first.headers.get('x-kortex-attempts')).toBe('2') // not probed yet: tried, failed over
    await first.text()
    const probes = () => up.requests.filter((r) => r.path === '/mode/503/v1/models').length
    const before = probes()
    const w = (await mf.getWorker('health')) as unknown as { scheduled(o: { cron: string }): Promise<unknown> }
    await w.scheduled({ cron: '* * * * *' })
    for (let i = 0; i < 40 && probes() === before; i++) await sleep(25)
    expect(probes()).toBeGreaterThan(before)
    await sleep(100) // the probe's answer reaching the monitor
    const hits = chatHits()
    const next = await mf.dispatchFetch(url('health', '/v1/chat/completions'), chat('probed'))
    expect(next.status).toBe(200)
    expect(next.headers.get('x-kortex-backend')).toBe('good')
    expect(next.headers.get('x-kortex-attempts')).toBe('1')
    await next.text()
    expect(chatHits()).toBe(hits)
  })
})

describe('Workers traces (otel-cf-workers)', () => {
  it('exports the request span and the gateway GenAI span over OTLP/HTTP when an endpoint is set', async () => {
    const res = await mf.dispatchFetch(url('traced', '/v1/chat/completions'), chat('limited'))
    expect(res.status).toBe(200)
    await res.text()
    for (let i = 0; i < 100 && !exported.some((e) => e.body.includes('chat gpt-4o-mini')); i++) await sleep(50)
    const traces = exported.filter((e) => e.path === '/v1/traces')
    expect(traces.length).toBeGreaterThan(0)
    const all = traces.map((t) => t.body).join('\n')
    expect(all).toContain('kortex-edge-test')
    expect(all).toContain('"name":"POST /v1/chat/completions"') // the gateway's request span
    expect(all).toContain('"name":"chat gpt-4o-mini"') // the attempt's GenAI client span, {operation} {model as sent upstream}
    expect(all).toContain('gen_ai.request.model')
  })

  it('exports the same metrics as /metrics on Node over OTLP/HTTP: GenAI histograms and kortex counters', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await mf.dispatchFetch(url('metered', '/v1/chat/completions'), chat('limited'))
      expect(res.status).toBe(200)
      await res.text()
    }
    const served = () =>
      exported
        .filter((e) => e.path === '/v1/metrics')
        .map((e) => JSON.parse(e.body) as OtlpMetrics)
        .flatMap((b) => b.resourceMetrics)
    const points = (name: string) => served().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics.filter((m) => m.name === name)))
    for (let i = 0; i < 100 && !points('kortex.requests').some((m) => JSON.stringify(m).includes('"asInt":3') || JSON.stringify(m).includes('"asDouble":3')); i++) await sleep(50)
    const resource = JSON.stringify(served()[0]?.resource)
    expect(resource).toContain('kortex-edge-metrics')
    expect(resource).toContain('service.instance.id')
    const requests = points('kortex.requests').at(-1)!
    expect(requests.sum.dataPoints.map((p) => [p.asInt ?? p.asDouble, attr(p, 'outcome'), attr(p, 'status_class')])).toContainEqual([3, 'served', '2xx'])
    const duration = points('gen_ai.client.operation.duration').at(-1)!
    expect(duration.histogram.dataPoints.reduce((n, p) => n + Number(p.count), 0)).toBe(3)
    expect(duration.histogram.dataPoints.map((p) => attr(p, 'gen_ai.request.model'))).toContain('limited')
    expect(points('gen_ai.client.token.usage').length).toBeGreaterThan(0)
    expect(points('kortex.breaker.state').length).toBeGreaterThan(0)
    // No traces from a Worker given only a metrics endpoint.
    expect(exported.some((e) => e.path === '/v1/traces' && e.body.includes('kortex-edge-metrics'))).toBe(false)
  })

  it('exports metrics at most once per OTEL_METRIC_EXPORT_INTERVAL per isolate', async () => {
    const mine = () => exported.filter((e) => e.path === '/v1/metrics' && e.body.includes('kortex-edge-throttled'))
    for (let i = 0; i < 3; i++) await (await mf.dispatchFetch(url('throttled', '/v1/chat/completions'), chat('limited'))).text()
    for (let i = 0; i < 100 && mine().length === 0; i++) await sleep(50)
    await sleep(300)
    expect(mine().length).toBe(1)
  })

  it('exports nothing from a Worker without an endpoint', async () => {
    const before = exported.length
    await (await mf.dispatchFetch(url('edge-a', '/v1/models'))).text()
    await sleep(200)
    expect(exported.length).toBe(before)
  })
})
