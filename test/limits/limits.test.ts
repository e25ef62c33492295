// Rate limits, token limits and budgets as a client meets them: OpenAI's
// headers on every answer of a limited route, a 429 naming the scope with
// Retry-After, token reservations settled to actual usage, budgets that
// refuse at the boundary and alert once, and the store's failure modes.
import { describe, expect, it } from 'vitest'
import { metrics } from '@opentelemetry/api'
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { MemoryStore } from '../../src/state/memory.ts'
import type { StateStore } from '../../src/state/store.ts'
import type { Logger } from '../../src/telemetry/log.ts'
import { countPromptTokens, estimatePromptTokens } from '../../src/usage/tokens.ts'
import { backendsYaml, fakeClock, fakeFleet, testGateway, type FakeClock } from '../helpers/fake-fleet.ts'

const gateway = (spec: string) => `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec:
  accessLog: false
${spec}
---
${backendsYaml(['a'], { a: '  cost: { inputTokenCost: "0.01", outputTokenCost: "0.03" }\n' })}---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: chat }
spec:
  defaultBackend: { name: a }
`
const withRoute = (gw: string, rateLimit: string) => gw.replace('  defaultBackend: { name: a }\n', `  defaultBackend: { name: a }\n  rateLimit: ${rateLimit}\n`)

const keys = `  auth:
    keys:
      - { name: web-app, key: kx-web-app-0001, team: web }
      - { name: web-batch, key: kx-web-batch-01, team: web, limits: { requestsPerMinute: 2 } }
      - { name: ml-app, key: kx-ml-app-00001, team: ml }
  teams:
    - { name: web, limits: { requestsPerMinute: 3 } }`

async function setup(yaml: string, opts: { store?: StateStore; clock?: FakeClock; log?: Logger } = {}) {
  const clock = opts.clock ?? fakeClock()
  const fleet = fakeFleet()
  const store = opts.store ?? new MemoryStore(clock.now)
  const gw = await testGateway(yaml, fleet, clock, { store, ...(opts.log ? { log: opts.log } : {}) })
  return { gw, fleet, clock, store }
}

const bearer = (key: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${key}`, ...extra })

describe('request rate limits', () => {
  it('a route limit: OpenAI headers on every answer, then a 429 with Retry-After naming the route; refills evenly', async () => {
    const { gw, fleet, clock } = await setup(withRoute(gateway('  auth: { open: true }'), '{ requestsPerMinute: 3 }'))
    const seen: string[] = []
    for (let i = 0; i < 3; i++) {
      const r = await gw.chat()
      expect(r.status).toBe(200)
      expect(r.headers.get('x-ratelimit-limit-requests')).toBe('3')
      seen.push(r.headers.get('x-ratelimit-remaining-requests')!)
    }
    expect(seen).toEqual(['2', '1', '0'])
    const refused = await gw.chat()
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toBe('20')
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0')
    const body = (await refused.json()) as any
    expect(body.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded' })
    expect(body.error.message).toContain("route 'chat' on requests per minute: Limit 3")
    expect(fleet.calls.a).toBe(3) // the refused request never reached the upstream
    // GCRA refills one request every 20 s: no burst of 3 at a minute boundary.
    clock.advance(20_000)
    expect((await gw.chat()).status).toBe(200)
    expect((await gw.chat()).status).toBe(429)
  })

  it('perUser: each user by header has their own budget of requests', async () => {
    const { gw } = await setup(withRoute(gateway('  auth: { open: true }'), '{ requestsPerMinute: 2, perUser: true, userHeader: X-Employee-ID }'))
    for (const u of ['ann', 'bob']) for (let i = 0; i < 2; i++) expect((await gw.chat({ 'x-employee-id': u })).status).toBe(200)
    const r = await gw.chat({ 'x-employee-id': 'ann' })
    expect(r.status).toBe(429)
    expect(((await r.json()) as any).error.message).toContain("user 'ann' on route 'chat'")
  })

  it('key and team limits apply together: the tightest refuses, and says which it was', async () => {
    const { gw } = await setup(gateway(keys))
    expect((await gw.chat(bearer('kx-web-batch-01'))).status).toBe(200)
    expect((await gw.chat(bearer('kx-web-batch-01'))).status).toBe(200)
    const key = await gw.chat(bearer('kx-web-batch-01'))
    expect(key.status).toBe(429)
    expect(((await key.json()) as any).error.message).toContain("API key 'web-batch'")
    // The team has had 2 of its 3: one more from another web key, then the team refuses.
    expect((await gw.chat(bearer('kx-web-app-0001'))).status).toBe(200)
    const team = await gw.chat(bearer('kx-web-app-0001'))
    expect(team.status).toBe(429)
    expect(((await team.json()) as any).error.message).toContain("team 'web'")
    // Another team is untouched; a route without limits sends no x-ratelimit headers.
    const ml = await gw.chat(bearer('kx-ml-app-00001'))
    expect(ml.status).toBe(200)
    expect(ml.headers.get('x-ratelimit-limit-requests')).toBeNull()
  })

  it('a refusal by one limit takes nothing from the others', async () => {
    const { gw } = await setup(gateway(keys))
    for (let i = 0; i < 2; i++) await gw.chat(bearer('kx-web-batch-01'))
    for (let i = 0; i < 5; i++) expect((await gw.chat(bearer('kx-web-batch-01'))).status).toBe(429)
    // The team saw 2 admitted requests, not 7: web-app still has one.
    expect((await gw.chat(bearer('kx-web-app-0001'))).status).toBe(200)
  })
})

describe('token limits', () => {
  it("reserve the prompt's tiktoken count plus max_tokens at admission, and settle to the actual usage", async () => {
    const { gw } = await setup(withRoute(gateway('  auth: { open: true }'), '{ tokensPerMinute: 1000 }'))
    const messages = [{ role: 'user', content: 'Summarise: the quick brown fox jumps over the lazy dog 42 times, then `npm test` runs 579 tests in 48 files.' }]
    // The backend's model (a-model) counts with cl100k_base; the cheap estimate would say otherwise.
    const prompt = await countPromptTokens({ messages }, 'a-model')
    expect(estimatePromptTokens({ messages }, 'a-model').tokens).not.toBe(prompt)
    const first = await gw.chat({}, { messages, max_tokens: 600 })
    expect(first.status).toBe(200)
    const reserved = 1000 - Number(first.headers.get('x-ratelimit-remaining-tokens'))
    expect(reserved).toBe(600 + prompt)
    // A second reservation would not fit...
    await gw.settle()
    // ...but the first answer used 21 tokens (9 in, 12 out), so settlement gave the rest back.
    const second = await gw.chat({}, { messages, max_tokens: 600 })
    expect(second.status).toBe(200)
    expect(Number(second.headers.get('x-ratelimit-remaining-tokens'))).toBe(1000 - 21 - reserved)
  })

  it('limits.promptTokens: estimate reserves the encoder-free estimate instead (no tokenizer to build)', async () => {
    const { gw } = await setup(withRoute(gateway('  auth: { open: true }\n  limits: { promptTokens: Estimate }'), '{ tokensPerMinute: 1000 }'))
    const messages = [{ role: 'user', content: 'Summarise: the quick brown fox jumps over the lazy dog 42 times, then `npm test` runs 579 tests in 48 files.' }]
    const r = await gw.chat({}, { messages, max_tokens: 600 })
    expect(1000 - Number(r.headers.get('x-ratelimit-remaining-tokens'))).toBe(600 + estimatePromptTokens({ messages }, 'a-model').tokens)
  })

  it('without max_tokens the configured default is reserved; a burst of long prompts cannot slip through', async () => {
    const { gw } = await setup(withRoute(gateway('  auth: { open: true }\n  limits: { defaultMaxTokens: 300 }'), '{ tokensPerMinute: 1000 }'))
    const long = 'word '.repeat(400) // ~400 tokens
    const answers = await Promise.all(Array.from({ length: 4 }, () => gw.chat({}, { messages: [{ role: 'user', content: long }] })))
    expect(answers.map((r) => r.status).sort()).toEqual([200, 429, 429, 429])
  })

  it('a request larger than the whole limit is refused as too large, with no Retry-After', async () => {
    const { gw } = await setup(withRoute(gateway('  auth: { open: true }'), '{ tokensPerMinute: 500 }'))
    const r = await gw.chat({}, { max_tokens: 800 })
    expect(r.status).toBe(429)
    expect(r.headers.get('retry-after')).toBeNull()
    expect(((await r.json()) as any).error.message).toContain('Request too large')
  })

  it('a failed request gives its whole token reservation back', async () => {
    const { gw, fleet } = await setup(withRoute(gateway('  auth: { open: true }'), '{ tokensPerMinute: 1000 }'))
    fleet.set('a', { status: 503 })
    expect((await gw.chat({}, { max_tokens: 600 })).status).toBe(502)
    await gw.settle()
    fleet.set('a', 'ok')
    expect((await gw.chat({}, { max_tokens: 600 })).status).toBe(200)
  })
})

describe('budgets', () => {
  it('refuse at the boundary with 402 budget_exceeded, and alert once per threshold', async () => {
    const alerts: any[] = []
    const yaml = gateway(`${keys}
  limits: { defaultMaxTokens: 16 }   # a budget must hold one request's worst case
  budgets:
    - { scope: team, name: web, amount: "0.001", period: day, alertAt: [50, 80, 100], webhook: "http://hooks.test/budget" }`)
    const clock = fakeClock(Date.parse('2026-11-30T12:00:00Z'))
    const fleet = fakeFleet()
    const store = new MemoryStore(clock.now)
    const gw = await testGateway(yaml, fleet, clock, {
      store,
      fetch: async (input, init) => {
        if (String(input).startsWith('http://hooks.test')) {
          alerts.push(JSON.parse(String(init?.body)))
          return new Response(null, { status: 204 })
        }
        return fleet.fetch(input, init)
      },
    })
    // Each answer costs 9 × 0.00001 + 12 × 0.00003 = 0.00045; reservations use max_tokens 12.
    const ask = () => gw.chat(bearer('kx-web-app-0001'), { max_tokens: 12 })
    expect((await ask()).status).toBe(200)
    await gw.settle()
    expect(alerts).toEqual([])
    expect((await ask()).status).toBe(200)
    await gw.settle()
    expect(alerts.map((a) => a.threshold)).toEqual([50, 80])
    expect(alerts[1]).toMatchObject({ type: 'budget.threshold', budget: "team 'web'", spent: '0.0009', amount: '0.001', currency: 'USD', period: 'day' })
    const refused = await ask()
    expect(refused.status).toBe(402)
    const e = ((await refused.json()) as any).error
    expect(e).toMatchObject({ type: 'insufficient_quota', code: 'budget_exceeded' })
    expect(e.message).toContain("team 'web': 0.001 USD per day, 0.0009 spent")
    expect(fleet.calls.a).toBe(2)
    // Another team pays its own way; the next day the budget starts again.
    expect((await gw.chat(bearer('kx-ml-app-00001'))).status).toBe(200)
    clock.advance(86_400_000)
    expect((await ask()).status).toBe(200)
    await gw.settle()
    expect(alerts.map((a) => a.threshold)).toEqual([50, 80, 100]) // the refusal's; 45% of the new day: no alert yet
  })
})

describe('when the state store fails', () => {
  const broken: StateStore = Object.assign(new MemoryStore(), {
    admit: async () => {
      throw new Error('Redis unavailable: connect ECONNREFUSED 127.0.0.1:6390')
    },
  })

  it('failMode open (the default) lets requests through, logs the outage once and counts every failure', async () => {
    const reader = new (class extends MetricReader {
      protected override async onForceFlush() {}
      protected override async onShutdown() {}
    })()
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }))
    const errors: string[] = []
    const log: Logger = { record() {}, warn() {}, error: (m) => errors.push(m) }
    const { gw } = await setup(withRoute(gateway('  auth: { open: true }'), '{ requestsPerMinute: 1 }'), { store: broken, log })
    for (let i = 0; i < 5; i++) expect((await gw.chat()).status).toBe(200)
    expect(errors.filter((m) => m.includes('state store is unreachable'))).toHaveLength(1)
    const { resourceMetrics } = await reader.collect()
    const failures = resourceMetrics.scopeMetrics.flatMap((x) => x.metrics).find((m) => m.descriptor.name === 'kortex.state_store.failures')
    expect(failures?.dataPoints).toMatchObject([{ attributes: { outcome: 'open' }, value: 5 }])
    metrics.disable()
  })

  it('failMode closed refuses with 503 limits_unavailable', async () => {
    const { gw, fleet } = await setup(withRoute(gateway('  auth: { open: true }'), '{ requestsPerMinute: 100, failMode: closed }'), { store: broken })
    const r = await gw.chat()
    expect(r.status).toBe(503)
    expect(((await r.json()) as any).error.code).toBe('limits_unavailable')
    expect(fleet.calls.a).toBeUndefined()
  })
})
