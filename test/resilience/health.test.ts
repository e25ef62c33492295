// Active health checks: the free endpoint each backend type is probed on,
// with its own auth; thresholds, one log line per change, timeouts, reloads
// that keep or reset state; and a real local server speaking KServe V2
// readiness. Timers and the clock are injected: nothing sleeps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compileConfig, type Backend } from '../../src/config/compile.ts'
import { parseConfigText } from '../../src/config/load.ts'
import { backendSpec } from '../../src/config/schema.ts'
import { HealthMonitor, joinPath, probeFor, type Health } from '../../src/resilience/health.ts'
import type { Logger } from '../../src/telemetry/log.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { API_KEY as GEMINI_KEY, startGeminiUpstream, type GeminiUpstream } from '../upstreams/gemini.ts'

const KEY = 'test-key-not-a-real-secret-0123456789'

const doc = (name: string, spec: string) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: ${name} }
spec: ${spec}
`

async function backends(specs: Record<string, string>, secrets: Record<string, string> = { CREDS_API_KEY: KEY }): Promise<Map<string, Backend>> {
  const text = Object.entries(specs).map(([n, s]) => doc(n, s)).join('')
  return (await compileConfig(parseConfigText(text), (k) => secrets[k])).backends
}
async function one(spec: string): Promise<Backend> {
  return (await backends({ b: spec })).get('default/b')!
}

const ext = (url: string, more = '') => `{ type: external, external: { url: "${url}", apiKeySecret: { name: creds, key: api-key }${more} }, healthCheck: {} }`

/** Timers that only fire when the test says so. */
function fakeTimers() {
  const tasks: Array<{ fn: () => void; ms: number; live: boolean }> = []
  return {
    tasks,
    schedule: (fn: () => void, ms: number) => {
      const t = { fn, ms, live: true }
      tasks.push(t)
      return { cancel: () => void (t.live = false) }
    },
    live: (ms?: number) => tasks.filter((t) => t.live && (ms === undefined || t.ms === ms)),
    /** Fire every live timer of `ms`, as if that much time had passed for them. */
    fire(ms: number) {
      for (const t of this.live(ms)) {
        t.live = false
        t.fn()
      }
    },
  }
}

function recordingLog() {
  const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = []
  const log: Logger = {
    record: (rec) => lines.push({ level: 'record', message: String(rec.message), fields: rec }),
    warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
    error: (message, fields) => lines.push({ level: 'error', message, fields }),
  }
  return { log, lines }
}

type Answer = Error | ((signal: AbortSignal) => Response | Promise<Response>)

/** A fetch that answers from a queue (the last answer repeats) and records what it was asked. */
function fakeFetch(...answers: Answer[]) {
  const calls: Array<{ url: string; init: RequestInit }> = []
  const queue = [...answers]
  const fetch = async (input: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(input), init: init ?? {} })
    const a = queue.length > 1 ? queue.shift()! : queue[0]!
    if (a instanceof Error) throw a
    return a(init!.signal!)
  }
  return { fetch, calls, set: (...next: Answer[]) => queue.splice(0, queue.length, ...next) }
}

const ok = () => new Response('{"object":"list","data":[]}', { status: 200, headers: { 'content-type': 'application/json' } })
const down = () => new Response('{"error":"overloaded"}', { status: 503 })
const headersOf = (p: { init: RequestInit }) => p.init.headers as Record<string, string>

describe('probeFor: a free endpoint per backend type, with its own auth', () => {
  it('KServe: V2 /v2/health/ready, V1 /v1/models/{model}, the OpenAI runtimes {base}/models', async () => {
    const ks = (k: string) => one(`{ type: kserve, kserve: ${k}, healthCheck: {} }`)
    expect(probeFor(await ks('{ serviceName: iris, protocol: v2 }'))!.url).toBe('http://iris-predictor.default.svc.cluster.local/v2/health/ready')
    expect(probeFor(await ks('{ serviceName: iris, protocol: V1 }'))!.url).toBe('http://iris-predictor.default.svc.cluster.local/v1/models/iris')
    expect(probeFor(await ks('{ serviceName: llama }'))!.url).toBe('http://llama-predictor.default.svc.cluster.local/openai/v1/models')
    expect(probeFor(await ks('{ serviceName: llama, pathPrefix: "" }'))!.url).toBe('http://llama-predictor.default.svc.cluster.local/v1/models')
  })

  it('OpenAI-compatible: {base}/models with Bearer; kubernetes servers the same, unauthenticated', async () => {
    const p = probeFor(await one(ext('https://api.openai.com/v1')))!
    expect(p.url).toBe('https://api.openai.com/v1/models')
    expect(p.init.method).toBe('GET')
    expect(headersOf(p)).toEqual({ authorization: `Bearer ${KEY}`, accept: 'application/json' })
    const k = probeFor(await one('{ type: kubernetes, kubernetes: { serviceName: vllm, namespace: ai }, healthCheck: {} }'))!
    expect(k.url).toBe('http://vllm.ai.svc.cluster.local:8080/v1/models')
    expect(headersOf(k)).toEqual({ accept: 'application/json' })
  })

  it('Anthropic: /v1/models with x-api-key and anthropic-version', async () => {
    const p = probeFor(await one(ext('https://api.anthropic.com/v1', ', provider: anthropic')))!
    expect(p.url).toBe('https://api.anthropic.com/v1/models')
    expect(headersOf(p)).toEqual({ 'x-api-key': KEY, 'anthropic-version': '2023-06-01', accept: 'application/json' })
  })

  it('Azure: the models list in the backend\'s URL style, key in api-key', async () => {
    const az = async (url: string, more = '') => probeFor(await one(ext(url, `, provider: azure-openai${more}`)))!
    const p = await az('https://x.openai.azure.com', ', apiVersion: "2024-10-21"')
    expect(p.url).toBe('https://x.openai.azure.com/openai/models?api-version=2024-10-21')
    expect(headersOf(p)).toEqual({ 'api-key': KEY, accept: 'application/json' })
    expect((await az('https://x.openai.azure.com/openai/')).url).toBe('https://x.openai.azure.com/openai/v1/models')
    expect((await az('https://x.openai.azure.com/openai/v1')).url).toBe('https://x.openai.azure.com/openai/v1/models')
    expect((await az('https://x.openai.azure.com/openai/deployments/gpt4o', ', apiVersion: "2024-06-01"')).url).toBe('https://x.openai.azure.com/openai/models?api-version=2024-06-01')
  })

  it('a user path is relative to the service root and never doubles a segment', async () => {
    const gpt = await one(`{ type: external, external: { url: "https://api.openai.com/v1" }, healthCheck: { path: /v1/models } }`)
    expect(probeFor(gpt)!.url).toBe('https://api.openai.com/v1/models')
    const ks = await one('{ type: kserve, kserve: { serviceName: s, protocol: v2 }, healthCheck: { path: /v2/models/s/ready } }')
    expect(probeFor(ks)!.url).toBe('http://s-predictor.default.svc.cluster.local/v2/models/s/ready')
    expect(joinPath('http://h:8080', 'health')).toBe('http://h:8080/health')
    expect(joinPath('https://h/openai/v1/', '/v1/models')).toBe('https://h/openai/v1/models')
    expect(joinPath('https://h/api', '/api-docs')).toBe('https://h/api/api-docs')
  })

  it('demo backends are never probed', async () => {
    expect(probeFor(await one('{ type: demo, healthCheck: {} }'))).toBeUndefined()
  })

  it('schema: path optional, healthyThreshold beside failureThreshold', () => {
    expect(backendSpec.parse({ type: 'demo', healthCheck: {} }).healthCheck).toEqual({ intervalSeconds: 30, timeoutSeconds: 5, failureThreshold: 3, healthyThreshold: 1 })
    expect(backendSpec.parse({ type: 'demo', healthCheck: { path: '/health', healthyThreshold: 2 } }).healthCheck).toMatchObject({ path: '/health', healthyThreshold: 2 })
  })
})

describe('readiness bodies', () => {
  const check = async (spec: string, res: Response) => probeFor(await one(spec))!.ok!(res)
  const v1 = '{ type: kserve, kserve: { serviceName: m, protocol: v1 }, healthCheck: {} }'
  const v2 = '{ type: kserve, kserve: { serviceName: m, protocol: v2 }, healthCheck: {} }'
  it('V1 needs {"ready": true}; V2 takes any 2xx unless it says ready: false', async () => {
    expect(await check(v1, Response.json({ name: 'm', ready: true }))).toBe(true)
    expect(await check(v1, Response.json({ name: 'm', ready: false }))).toBe(false)
    expect(await check(v1, new Response('', { status: 200 }))).toBe(false)
    expect(await check(v2, new Response(null, { status: 200 }))).toBe(true)
    expect(await check(v2, Response.json({ ready: false }))).toBe(false)
    expect(await check(v2, Response.json({ ready: true }, { status: 503 }))).toBe(false)
  })
})

describe('HealthMonitor', () => {
  async function setup(hc = '{ failureThreshold: 3, healthyThreshold: 2, intervalSeconds: 10, timeoutSeconds: 2 }', ...answers: Answer[]) {
    const timers = fakeTimers()
    const f = fakeFetch(...(answers.length ? answers : [ok]))
    const { log, lines } = recordingLog()
    const changes: string[] = []
    let t = 5_000
    const monitor = new HealthMonitor({
      fetch: f.fetch,
      now: () => t,
      log,
      schedule: timers.schedule,
      onChange: (key, from: Health, to: Health) => changes.push(`${key} ${from}>${to}`),
    })
    const bs = await backends({ api: `{ type: external, external: { url: "https://api.example.com/v1", apiKeySecret: { name: creds, key: api-key } }, healthCheck: ${hc} }` })
    const tick = (ms: number) => void (t += ms)
    return { timers, f, lines, changes, monitor, bs, tick }
  }

  it('unhealthy after failureThreshold failures, healthy after healthyThreshold successes; each change logged once', async () => {
    const { f, lines, changes, monitor, bs, tick } = await setup(undefined, down)
    monitor.update(bs.values())
    expect(monitor.health('default/api')).toBe('unknown')
    await monitor.checkAll()
    await monitor.checkAll()
    expect(monitor.snapshot('default/api')).toMatchObject({ health: 'unknown', consecutiveFailures: 2, lastError: 'HTTP 503' })
    tick(1000)
    await monitor.checkAll()
    expect(monitor.snapshot('default/api')).toEqual({ health: 'unhealthy', consecutiveFailures: 3, lastError: 'HTTP 503', lastCheck: 6_000 })
    await monitor.checkAll()
    await monitor.checkAll()
    f.set(ok)
    await monitor.checkAll()
    expect(monitor.health('default/api')).toBe('unhealthy')
    await monitor.checkAll()
    expect(monitor.snapshot('default/api')).toEqual({ health: 'healthy', consecutiveFailures: 0, lastCheck: 6_000 })
    await monitor.checkAll()
    expect(changes).toEqual(['default/api unknown>unhealthy', 'default/api unhealthy>healthy'])
    expect(lines.map((l) => `${l.level} ${l.message}`)).toEqual(['warn backend unhealthy', 'record backend healthy again'])
    expect(lines[0]!.fields).toMatchObject({ backend: 'default/api', probe: 'https://api.example.com/v1/models', error: 'HTTP 503' })
    expect(f.calls).toHaveLength(8)
  })

  it('probes on its interval: the first at once, the next intervalSeconds after each answer; a timeout per probe', async () => {
    const { timers, f, monitor, bs } = await setup()
    monitor.update(bs.values())
    expect(timers.live().map((t) => t.ms)).toEqual([0])
    timers.fire(0)
    await monitor.checkAll() // joins the probe in flight, sends nothing more
    expect(f.calls).toHaveLength(1)
    expect(monitor.health('default/api')).toBe('unknown') // healthyThreshold 2
    await Promise.resolve()
    expect(timers.live().map((t) => t.ms)).toEqual([10_000]) // the probe's 2 s timeout was cancelled
    expect(timers.tasks.filter((t) => t.ms === 2_000)).toHaveLength(1) // one probe, one timeout
    timers.fire(10_000)
    await monitor.checkAll()
    expect(f.calls).toHaveLength(2)
    expect(monitor.health('default/api')).toBe('healthy')
    monitor.stop()
    expect(timers.live()).toEqual([])
  })

  it('a probe that does not answer times out, and the monitor never throws', async () => {
    const hang = (signal: AbortSignal) => new Promise<Response>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
    const { timers, monitor, bs } = await setup('{ failureThreshold: 1, timeoutSeconds: 2 }', hang)
    monitor.update(bs.values())
    const running = monitor.checkAll()
    timers.fire(2_000)
    await running
    expect(monitor.snapshot('default/api')).toMatchObject({ health: 'unhealthy', lastError: 'no answer within 2000 ms' })
  })

  it('never writes a key or a query string into an error or a log line', async () => {
    const err = new TypeError('fetch failed', { cause: new Error(`connect ECONNREFUSED for https://api.example.com/v1/models?key=${KEY} with ${KEY}`) })
    const { lines, monitor, bs } = await setup('{ failureThreshold: 1 }', err)
    monitor.update(bs.values())
    await monitor.checkAll()
    const snap = monitor.snapshot('default/api')!
    expect(snap.health).toBe('unhealthy')
    expect(snap.lastError).toContain('ECONNREFUSED')
    const written = JSON.stringify([snap, lines])
    expect(written).not.toContain(KEY)
    expect(written).not.toContain('key=')
  })

  it('a reload keeps the state of an unchanged probe, resets a changed one, stops a removed one', async () => {
    const { timers, monitor, bs, f } = await setup('{ failureThreshold: 1, intervalSeconds: 10 }', down)
    monitor.update(bs.values())
    await monitor.checkAll()
    expect(monitor.health('default/api')).toBe('unhealthy')
    const first = timers.live()
    // Same probe, new interval: state kept, timer moved.
    const again = await backends({ api: `{ type: external, external: { url: "https://api.example.com/v1", apiKeySecret: { name: creds, key: api-key } }, healthCheck: { failureThreshold: 1, intervalSeconds: 20 } }` })
    monitor.update(again.values())
    expect(monitor.health('default/api')).toBe('unhealthy')
    expect(first.every((t) => !t.live)).toBe(true)
    expect(timers.live().map((t) => t.ms)).toEqual([20_000])
    // Another URL: a new probe, state unknown until it answers.
    const moved = await backends({ api: ext('https://api2.example.com/v1') })
    monitor.update(moved.values())
    expect(monitor.health('default/api')).toBe('unknown')
    expect(timers.live().map((t) => t.ms)).toEqual([0])
    // Gone from the config: no more probes.
    monitor.update([])
    expect(monitor.snapshot('default/api')).toBeUndefined()
    expect(timers.live()).toEqual([])
    await monitor.checkAll()
    expect(f.calls.map((c) => c.url)).toEqual(['https://api.example.com/v1/models'])
  })

  it('the answer of a probe that was retired mid-flight is dropped', async () => {
    let answer!: (r: Response) => void
    const { monitor, bs } = await setup('{ failureThreshold: 1 }', () => new Promise<Response>((r) => (answer = r)))
    monitor.update(bs.values())
    const running = monitor.checkAll()
    const moved = await backends({ api: `{ type: external, external: { url: "https://api2.example.com/v1" }, healthCheck: { failureThreshold: 1 } }` })
    monitor.update(moved.values())
    answer(down())
    await running
    expect(monitor.health('default/api')).toBe('unknown')
  })

  it('opt-in: no healthCheck, no probe; demo always healthy; a missing secret is unhealthy without a probe', async () => {
    const timers = fakeTimers()
    const f = fakeFetch(ok)
    const monitor = new HealthMonitor({ fetch: f.fetch, schedule: timers.schedule })
    const bs = await backends(
      {
        plain: '{ type: external, external: { url: "https://a.example/v1" } }',
        echo: '{ type: demo }',
        nokey: `{ type: external, external: { url: "https://b.example/v1", apiKeySecret: { name: absent, key: k } }, healthCheck: {} }`,
      },
      {},
    )
    monitor.update(bs.values())
    await monitor.checkAll()
    expect(monitor.health('default/plain')).toBe('unknown')
    expect(monitor.health('default/echo')).toBe('healthy')
    expect(monitor.snapshot('default/nokey')).toMatchObject({ health: 'unhealthy', lastError: 'credentials not configured (set ABSENT_K)' })
    expect(f.calls).toEqual([])
    expect(timers.live()).toEqual([])
  })

  it('a missing Secret in a config from the cluster is named as the cluster names it', async () => {
    const text = `apiVersion: gateway.kortex.io/v1alpha1\nkind: InferenceBackend\nmetadata: { name: nokey, namespace: z-tenant }\nspec: { type: external, external: { url: "https://b.example/v1", apiKeySecret: { name: x, key: token } }, healthCheck: {} }\n`
    const bs = (await compileConfig(parseConfigText(text), () => undefined, 'cluster config', () => undefined)).backends
    const monitor = new HealthMonitor({ fetch: fakeFetch(ok).fetch, schedule: fakeTimers().schedule })
    monitor.update(bs.values())
    expect(monitor.snapshot('z-tenant/nokey')).toMatchObject({ health: 'unhealthy', lastError: 'credentials not configured (set Secret z-tenant/x key "token")' })
  })

  it('periodic: false probes only on checkAll() (a Cron Trigger)', async () => {
    const timers = fakeTimers()
    const f = fakeFetch(ok)
    const monitor = new HealthMonitor({ fetch: f.fetch, schedule: timers.schedule, periodic: false })
    monitor.update((await backends({ api: ext('https://api.example.com/v1') })).values())
    expect(timers.live()).toEqual([])
    await monitor.checkAll()
    expect(monitor.health('default/api')).toBe('healthy')
    expect(f.calls).toHaveLength(1)
  })
})

describe('HealthMonitor against a real KServe V2 server', () => {
  let server: TestServer
  const state = { ready: true, paths: [] as string[] }
  beforeAll(async () => {
    server = await startServer((req, res) => {
      state.paths.push(`${req.method} ${req.url}`)
      if (req.url !== '/v2/health/ready') {
        res.writeHead(404, { 'content-type': 'application/json' })
        return res.end('{"error":"not found"}')
      }
      res.writeHead(state.ready ? 200 : 503, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ ready: state.ready }))
    })
  })
  afterAll(() => server?.close())

  it('follows /v2/health/ready as it flips', async () => {
    const timers = fakeTimers()
    const monitor = new HealthMonitor({ fetch, schedule: timers.schedule, periodic: false })
    monitor.update((await backends({ iris: `{ type: kserve, kserve: { serviceName: iris, protocol: v2, url: "${server.url}" }, healthCheck: { failureThreshold: 1 } }` })).values())
    await monitor.checkAll()
    expect(monitor.health('default/iris')).toBe('healthy')
    state.ready = false
    await monitor.checkAll()
    expect(monitor.snapshot('default/iris')).toMatchObject({ health: 'unhealthy', lastError: 'HTTP 503' })
    state.ready = true
    await monitor.checkAll()
    expect(monitor.health('default/iris')).toBe('healthy')
    expect(state.paths).toEqual(['GET /v2/health/ready', 'GET /v2/health/ready', 'GET /v2/health/ready'])
  })
})

describe('a Gemini backend is probed on its free models list, the key in x-goog-api-key', () => {
  let gemini: GeminiUpstream
  beforeAll(async () => {
    gemini = await startGeminiUpstream()
  })
  afterAll(() => gemini?.close())
  const spec = (mode: string) => `{ type: external, external: { provider: gemini, url: "${gemini.base(mode)}", apiKeySecret: { name: gemini, key: api-key } }, healthCheck: { failureThreshold: 1 } }`

  it('without a path: GET /v1beta/models, the key in the header and never in the URL (probe URLs are logged)', async () => {
    const b = await backends({ g: spec('ok') }, { GEMINI_API_KEY: GEMINI_KEY })
    const probe = probeFor(b.get('default/g')!)!
    expect(probe.url).toBe(`${gemini.base('ok')}/v1beta/models?pageSize=1`)
    expect(probe.init.headers['x-goog-api-key']).toBe(GEMINI_KEY)
    expect(probe.url).not.toContain(GEMINI_KEY)
    // The official endpoint when the backend gives no url.
    const official = await backends({ g: '{ type: external, external: { provider: gemini, apiKeySecret: { name: gemini, key: api-key } }, healthCheck: {} }' }, { GEMINI_API_KEY: GEMINI_KEY })
    expect(probeFor(official.get('default/g')!)!.url).toBe('https://generativelanguage.googleapis.com/v1beta/models?pageSize=1')
  })

  it('healthy against the upstream; unhealthy when it answers 503, or when the key is refused', async () => {
    const timers = fakeTimers()
    const monitor = new HealthMonitor({ fetch, schedule: timers.schedule, periodic: false })
    monitor.update((await backends({ up: spec('ok'), down: spec('503') }, { GEMINI_API_KEY: GEMINI_KEY })).values())
    await monitor.checkAll()
    expect(monitor.health('default/up')).toBe('healthy')
    expect(monitor.snapshot('default/down')).toMatchObject({ health: 'unhealthy', lastError: 'HTTP 503' })
    const probes = gemini.requests.filter((r) => r.body === undefined)
    expect(probes.map((r) => r.path)).toEqual(['/v1beta/models?pageSize=1', '/v1beta/models?pageSize=1'])
    expect(probes.every((r) => r.headers['x-goog-api-key'] === GEMINI_KEY)).toBe(true)
    const wrongKey = new HealthMonitor({ fetch, schedule: timers.schedule, periodic: false })
    wrongKey.update((await backends({ g: spec('ok') }, { GEMINI_API_KEY: 'not-the-key-0123456789' })).values())
    await wrongKey.checkAll()
    expect(wrongKey.snapshot('default/g')).toMatchObject({ health: 'unhealthy', lastError: 'HTTP 403' })
  })

  it('Bedrock and Vertex AI are still probed only on a healthCheck.path (signed and OAuth requests)', async () => {
    const b = await backends({
      br: '{ type: external, external: { provider: bedrock, region: us-east-1 }, healthCheck: {} }',
      vx: '{ type: external, external: { provider: vertex, project: p, location: global }, healthCheck: {} }',
    }, { AWS_ACCESS_KEY_ID: 'test-id', AWS_SECRET_ACCESS_KEY: 'test-secret' })
    expect(probeFor(b.get('default/br')!)).toBeUndefined()
    expect(probeFor(b.get('default/vx')!)).toBeUndefined()
  })
})
