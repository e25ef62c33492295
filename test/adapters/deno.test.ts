// Kortex on Deno (adapters/deno/main.ts under the deno binary from npm):
// two Deno instances on Redis enforce one rate limit together (node-redis on
// Deno), and config comes from the controller (ETag pull, last good kept).
// The shared feature suite runs on Deno in test/conformance.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { startServer, type TestServer } from '../helpers/server.ts'
import { REDIS_URL, requireRedis } from '../helpers/redis.ts'
import { startDeno, type RunningRuntime } from '../conformance/runtimes.ts'

const redisUp = await requireRedis('the Deno-on-Redis test')

const run = Math.random().toString(36).slice(2, 8)
const model = `deno-limited-${run}`
const redisConfig = `
apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: deno }
spec: { auth: { open: true }, accessLog: false, state: { store: redis, timeoutMs: 1000 } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: echo }
spec: { type: demo }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r-${run} }
spec:
  models: [${model}]
  defaultBackend: { name: echo }
  rateLimit: { requestsPerMinute: 6 }
`

const chat = (m: string) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: m, messages: [{ role: 'user', content: 'hi deno' }] }) })

describe.skipIf(!redisUp)('Deno instances on Redis', () => {
  const instances: RunningRuntime[] = []
  beforeAll(async () => {
    instances.push(...(await Promise.all([startDeno({ KORTEX_CONFIG: redisConfig, REDIS_URL }), startDeno({ KORTEX_CONFIG: redisConfig, REDIS_URL })])))
  }, 60_000)
  afterAll(async () => {
    await Promise.all(instances.map((i) => i.close()))
  })

  it('two Deno instances enforce one rate limit together', async () => {
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => fetch(`${instances[i % 2]!.url}/v1/chat/completions`, chat(model))))
    const statuses = results.map((r) => r.status)
    await Promise.all(results.map((r) => r.text()))
    expect(statuses.filter((s) => s === 200)).toHaveLength(6)
    expect(statuses.filter((s) => s === 429)).toHaveLength(10)
  })

  it('GET /metrics: Prometheus text with the requests served and the rate-limit refusals by scope', async () => {
    const texts = await Promise.all(instances.map(async (i) => {
      const r = await fetch(`${i.url}/metrics`)
      expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/)
      return r.text()
    }))
    const total = (re: RegExp) => texts.reduce((n, t) => n + [...t.matchAll(re)].reduce((m, x) => m + Number(x[1]), 0), 0)
    expect(total(new RegExp(`kortex_requests_total\\{route="r-${run}",backend="echo",status_class="2xx",outcome="served",reason=""\\} (\\d+)`, 'g'))).toBe(6)
    expect(total(new RegExp(`kortex_requests_total\\{route="r-${run}",backend="",status_class="4xx",outcome="refused",reason="rate_limit_exceeded"\\} (\\d+)`, 'g'))).toBe(10)
    expect(total(/kortex_rate_limit_refusals_total\{scope="route"\} (\d+)/g)).toBe(10)
    expect(texts[0]).toMatch(/gen_ai_client_operation_duration_seconds_bucket\{/)
  })
})

describe('Deno config from the controller', () => {
  let version = 'd1'
  let down = false
  const seen: Array<string | undefined> = []
  let ctl: TestServer
  let k: RunningRuntime
  const doc = () => ({
    kind: 'KortexConfig',
    version,
    resources: [
      { apiVersion: 'gateway.kortex.io/v1alpha1', kind: 'GatewayConfig', metadata: { name: 'g' }, spec: { auth: { open: true }, accessLog: false } },
      { apiVersion: 'gateway.kortex.io/v1alpha1', kind: 'InferenceBackend', metadata: { name: 'echo' }, spec: { type: 'demo' } },
      { apiVersion: 'gateway.kortex.io/v1alpha1', kind: 'InferenceRoute', metadata: { name: 'r' }, spec: { models: [`model-${version}`], defaultBackend: { name: 'echo' } } },
    ],
  })
  beforeAll(async () => {
    ctl = await startServer((req: IncomingMessage, res: ServerResponse) => {
      seen.push(req.headers.authorization)
      if (down) return void res.writeHead(503).end()
      if (req.headers['if-none-match'] === `"${version}"`) return void res.writeHead(304, { etag: `"${version}"` }).end()
      res.writeHead(200, { 'content-type': 'application/json', etag: `"${version}"` }).end(JSON.stringify(doc()))
    })
    k = await startDeno({ KORTEX_CONFIG_URL: `${ctl.url}/config`, KORTEX_CONFIG_TOKEN: 'deno-ctl-token', KORTEX_CONFIG_REFRESH_SECONDS: '0.1' })
  }, 60_000)
  afterAll(async () => {
    await k?.close()
    await ctl?.close()
  })

  const models = async () => ((await (await fetch(`${k.url}/v1/models`)).json()) as any).data.map((m: any) => m.id)
  const until = async (want: string) => {
    for (let i = 0; i < 60; i++) {
      if ((await models())[0] === want) return
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`never saw ${want}`)
  }

  it('serves the pulled config, follows changes, and keeps the last good one while the controller fails', async () => {
    expect(await models()).toEqual(['model-d1'])
    expect(seen[0]).toBe('Bearer deno-ctl-token')
    version = 'd2'
    await until('model-d2')
    down = true
    const n = seen.length
    await new Promise((r) => setTimeout(r, 400))
    expect(seen.length).toBeGreaterThan(n)
    expect(await models()).toEqual(['model-d2'])
    down = false
    // The update counts as an applied reload, the second generation; the outage refused nothing.
    const text = await (await fetch(`${k.url}/metrics`)).text()
    expect(text).toMatch(/^kortex_config_reloads_total\{result="applied"\} 1$/m)
    expect(text).toMatch(/^kortex_config_reloads_total\{result="refused"\} 0$/m)
    expect(text).toMatch(/^kortex_config_generation 2$/m)
  })
})
