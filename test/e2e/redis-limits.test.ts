// Limits across a fleet: two Kortex Node servers sharing one Redis (a
// redis-server this test starts on its own port) enforce one limit
// exactly under parallel load, settle token reservations to the actual
// usage whichever instance served, and ride out a Redis outage per each
// limit's failMode, recovering without a restart.
import type { ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createUpstreamFetch } from '../../adapters/node/upstream-fetch.ts'
import { startTestKortex, eventually, type TestKortex } from '../helpers/kortex.ts'
import { freePort, startRedis, stopRedis } from '../helpers/redis.ts'
import { startOpenAIUpstream, type OpenAIUpstream } from '../upstreams/openai.ts'

const fetch = createUpstreamFetch()
let redis: ChildProcess | undefined
let port = 0
let up: OpenAIUpstream
let a: TestKortex
let b: TestKortex
let yaml = ''

const route = (name: string, model: string, rateLimit: string) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: ${name} }
spec:
  models: [${model}]
  defaultBackend: { name: up }
  rateLimit: ${rateLimit}
`

beforeAll(async () => {
  port = await freePort()
  redis = await startRedis(port)
  process.env.KORTEX_FLEET_REDIS = `redis://127.0.0.1:${port}`
  up = await startOpenAIUpstream()
  yaml = `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec:
  auth: { open: true }
  accessLog: false
  state: { store: redis, urlEnv: KORTEX_FLEET_REDIS, timeoutMs: 1000 }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: up }
spec:
  type: external
  external: { url: "${up.base('ok')}" }
${route('exact', 'exact', '{ requestsPerMinute: 30 }')}${route('tokens', 'tokens', '{ tokensPerMinute: 2000 }')}${route('open', 'open', '{ requestsPerMinute: 1000 }')}${route('closed', 'closed', '{ requestsPerMinute: 1000, failMode: closed }')}`
  a = await startTestKortex(yaml)
  b = await startTestKortex(yaml)
})

afterAll(async () => {
  await a?.close()
  await b?.close()
  await up?.close()
  await stopRedis(redis)
})

const chat = (k: TestKortex, model: string, extra: Record<string, unknown> = {}) =>
  fetch(`${k.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
  })

it('two instances sharing Redis admit exactly the limit under parallel load', async () => {
  const answers = await Promise.all(Array.from({ length: 80 }, (_, i) => chat(i % 2 ? a : b, 'exact')))
  const statuses = await Promise.all(answers.map(async (r) => (await r.text(), r.status)))
  expect(statuses.filter((s) => s === 200)).toHaveLength(30)
  expect(statuses.filter((s) => s === 429)).toHaveLength(50)
  // Both instances served some and refused some: one limit, not one each.
  const servedBy = answers.map((r, i) => [i % 2, r.status] as const)
  for (const inst of [0, 1]) expect(servedBy.filter(([x, s]) => x === inst && s === 200).length).toBeGreaterThan(0)
})

it('token reservations settle to actual usage, whichever instance served', async () => {
  const first = await chat(a, 'tokens', { max_tokens: 900 })
  expect(first.status).toBe(200)
  await first.text()
  const reserved = 2000 - Number(first.headers.get('x-ratelimit-remaining-tokens'))
  // Each answer uses 21 tokens (9 in, 12 out); once settled, the rest of the reservation is back.
  await eventually(async () => {
    const probe = await chat(b, 'tokens', { max_tokens: 1 })
    await probe.text()
    return probe.status === 200 && Number(probe.headers.get('x-ratelimit-remaining-tokens')) > 2000 - reserved
  }, 5000)
  const again = await Promise.all([chat(a, 'tokens', { max_tokens: 900 }), chat(b, 'tokens', { max_tokens: 900 })])
  expect(again.map((r) => r.status)).toEqual([200, 200])
})

it('spend pools across instances: written within the window, and by an instance as it shuts down', async () => {
  const openRequests = async () => {
    const r = (await (await fetch(`${a.url}/v1/spend?group_by=route`)).json()) as { data: Array<{ route: string; requests: number }> }
    return r.data.find((x) => x.route === 'open')?.requests ?? 0
  }
  const before = await openRequests()
  for (const k of [a, b, a, b]) await (await chat(k, 'open')).text()
  // b's aggregates come within its window (1 s); a's own are written before it answers.
  await eventually(async () => (await openRequests()) === before + 4, 5000)
  // A third instance serves one request and shuts down at once: what it gathered reaches Redis on close.
  const c = await startTestKortex(yaml)
  await (await chat(c, 'open')).text()
  await c.close()
  expect(await openRequests()).toBe(before + 5)
})

it('Redis stopped mid-run: fail-open routes serve, fail-closed ones refuse; both recover by themselves', async () => {
  await stopRedis(redis)
  const open = await chat(a, 'open')
  expect(open.status).toBe(200)
  expect(open.headers.get('x-ratelimit-limit-requests')).toBeNull() // not checked while Redis is down
  const closed = await chat(b, 'closed')
  expect(closed.status).toBe(503)
  expect(((await closed.json()) as any).error.code).toBe('limits_unavailable')
  expect(a.logText()).toContain('state store')

  redis = await startRedis(port)
  // Each instance reconnects on its own (backoff up to 2 s): both get there without a restart.
  for (const [k, model] of [[b, 'closed'], [a, 'open']] as const) {
    await eventually(async () => {
      const r = await chat(k, model)
      await r.text()
      return r.status === 200 && r.headers.get('x-ratelimit-limit-requests') === '1000'
    }, 10_000)
  }
}, 30_000)
