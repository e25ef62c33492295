// Failover, retries, backoff, Retry-After, deadlines and breakers as a
// client of the gateway sees them: which backend answered, how many
// attempts it took, what error comes back when nothing works.
import { describe, expect, it } from 'vitest'
import { backendsYaml, fakeClock, fakeFleet, openGateway, routeYaml, testGateway } from '../helpers/fake-fleet.ts'

const route = routeYaml
const abc = (spec: string, extra: Record<string, string> = {}) => `${openGateway}---\n${backendsYaml(['a', 'b', 'c'], extra)}${route(spec)}`
const chain = abc('  defaultBackend: { name: a }\n  fallback: { backends: [b, c], timeoutSeconds: 0.05 }\n')

async function answer(res: Response) {
  return { status: res.status, backend: res.headers.get('x-kortex-backend'), attempts: res.headers.get('x-kortex-attempts'), body: (await res.json()) as any }
}

describe('failover across the chain', () => {
  for (const [what, behaviour] of [
    ['503', { status: 503 }],
    ['500', { status: 500 }],
    ['429', { status: 429 }],
    ['a connection reset', 'reset'],
    ['a hang past the attempt timeout', 'hang'],
    ['HTML instead of JSON', 'html'],
  ] as const) {
    it(`moves on after ${what}`, async () => {
      const fleet = fakeFleet()
      fleet.set('a', behaviour)
      const gw = await testGateway(chain, fleet)
      const r = await answer(await gw.chat())
      expect(r).toMatchObject({ status: 200, backend: 'b', attempts: '2' })
      expect(r.body.choices[0].message.content).toBe('from b')
      expect(fleet.log).toEqual(['a', 'b'])
    })
  }

  it('returns a client error (400) as it is, without trying another backend', async () => {
    const fleet = fakeFleet()
    fleet.set('a', { status: 400, code: 'invalid_value', message: "Invalid value for 'temperature'" })
    const gw = await testGateway(chain, fleet)
    const r = await answer(await gw.chat())
    expect(r.status).toBe(400)
    expect(r.body.error.message).toContain('temperature')
    expect(fleet.log).toEqual(['a'])
  })

  it('when every backend fails: one OpenAI-style error naming the last failure, attempts counted', async () => {
    const fleet = fakeFleet()
    fleet.set('a', { status: 503 })
    fleet.set('b', 'reset')
    fleet.set('c', { status: 500, message: 'boom' })
    const gw = await testGateway(chain, fleet)
    const r = await answer(await gw.chat())
    expect(r.status).toBe(502)
    expect(r.backend).toBe('c')
    expect(r.attempts).toBe('3')
    expect(r.body.error).toMatchObject({ type: 'upstream_error', code: 'upstream_server_error' })
    expect(r.body.error.message).toContain('backend "c"')
    expect(r.body.error.message).toContain('boom')
  })

  it('context length exceeded skips fallbacks whose window is no larger', async () => {
    const fleet = fakeFleet()
    fleet.set('a', { status: 400, code: 'context_length_exceeded', message: "This model's maximum context length is 8192 tokens" })
    const yaml = abc('  defaultBackend: { name: a }\n  fallback: { backends: [b, c] }\n', { a: '  contextWindow: 8192\n', b: '  contextWindow: 4096\n', c: '  contextWindow: 128000\n' })
    const gw = await testGateway(yaml, fleet)
    const r = await answer(await gw.chat())
    expect(r).toMatchObject({ status: 200, backend: 'c', attempts: '2' })
    expect(fleet.log).toEqual(['a', 'c'])
  })

  it('explicit triggers: only the named failures move on', async () => {
    const fleet = fakeFleet()
    fleet.set('a', { status: 500 })
    const gw = await testGateway(abc('  defaultBackend: { name: a }\n  failover: { chain: [b], triggers: [{ status: 429 }, { status: 503 }] }\n'), fleet)
    expect((await gw.chat()).status).toBe(502)
    fleet.set('a', { status: 503 })
    expect(await answer(await gw.chat())).toMatchObject({ status: 200, backend: 'b' })
    expect(fleet.log).toEqual(['a', 'a', 'b'])
  })

  it('without an explicit chain the route backends follow by priority, lowest first', async () => {
    const fleet = fakeFleet()
    fleet.set('a', { status: 503 })
    fleet.set('b', { status: 503 })
    const yaml = abc('  defaultBackend: { name: a }\n  rules:\n    - match: { headers: { x-x: "1" } }\n      backends: [{ name: b }, { name: c }]\n', { a: '  priority: 0\n', b: '  priority: 2\n', c: '  priority: 1\n' })
    const gw = await testGateway(yaml, fleet)
    expect(await answer(await gw.chat())).toMatchObject({ status: 200, backend: 'c' })
    expect(fleet.log).toEqual(['a', 'c'])
  })

  it('failover.enabled: false tries the chosen backend only', async () => {
    const fleet = fakeFleet()
    fleet.set('a', { status: 503 })
    const gw = await testGateway(abc('  defaultBackend: { name: a }\n  failover: { enabled: false, chain: [b] }\n'), fleet)
    expect((await gw.chat()).status).toBe(502)
    expect(fleet.log).toEqual(['a'])
  })
})

describe('retries on one backend', () => {
  const retrying = (fo: string) => abc(`  defaultBackend: { name: a }\n  failover: { chain: [b], maxRetries: 2, initialBackoffMs: 100, maxBackoffMs: 1000${fo} }\n`)

  it('retries with full-jitter exponential backoff, then answers from the same backend', async () => {
    const fleet = fakeFleet()
    fleet.set('a', (n) => (n <= 2 ? { status: 503 } : 'ok'))
    const clock = fakeClock(0, () => 0.5)
    const gw = await testGateway(retrying(''), fleet, clock)
    expect(await answer(await gw.chat())).toMatchObject({ status: 200, backend: 'a', attempts: '3' })
    // random 0.5 of min(1000, 100·2^k): 50 then 100.
    expect(clock.sleeps).toEqual([50, 100])
  })

  it('backoff is capped at maxBackoffMs and spread over [0, cap]', async () => {
    const fleet = fakeFleet()
    fleet.set('a', { status: 503 })
    const draws = [0.999, 0.001]
    const clock = fakeClock(0, () => draws.shift() ?? 0.5)
    const gw = await testGateway(abc('  defaultBackend: { name: a }\n  failover: { chain: [b], maxRetries: 2, initialBackoffMs: 800, maxBackoffMs: 1000 }\n'), fleet, clock)
    await gw.chat()
    expect(clock.sleeps[0]).toBeCloseTo(799.2, 5)
    expect(clock.sleeps[1]).toBeCloseTo(1, 5) // 0.001 × min(1000, 1600)
  })

  it("honours the upstream's Retry-After", async () => {
    const fleet = fakeFleet()
    fleet.set('a', (n) => (n === 1 ? { status: 429, retryAfter: '2' } : 'ok'))
    const clock = fakeClock()
    const gw = await testGateway(retrying(''), fleet, clock)
    expect(await answer(await gw.chat())).toMatchObject({ status: 200, backend: 'a', attempts: '2' })
    expect(clock.sleeps).toEqual([2000])
  })

  it('a Retry-After beyond the cap is not waited for: the next backend answers at once', async () => {
    const fleet = fakeFleet()
    fleet.set('a', { status: 429, retryAfter: '60' })
    const clock = fakeClock()
    const gw = await testGateway(retrying(', maxRetryAfterSeconds: 10'), fleet, clock)
    expect(await answer(await gw.chat())).toMatchObject({ status: 200, backend: 'b', attempts: '2' })
    expect(clock.sleeps).toEqual([])
  })

  it('no attempt starts after the deadline', async () => {
    const fleet = fakeFleet()
    fleet.set('a', { status: 503 })
    fleet.set('b', { status: 503 })
    const clock = fakeClock(0, () => 1)
    // Backoffs of 400 then 800 ms: the second would cross the 1 s deadline, so b is tried, once, and no more.
    const gw = await testGateway(abc('  defaultBackend: { name: a }\n  failover: { chain: [b], maxRetries: 3, initialBackoffMs: 400, maxBackoffMs: 5000, deadlineSeconds: 1 }\n'), fleet, clock)
    const r = await answer(await gw.chat())
    expect(r.status).toBe(502)
    expect(fleet.log).toEqual(['a', 'a', 'b', 'b'])
    expect(clock.sleeps).toEqual([400, 400])
    expect(clock.now()).toBeLessThan(1000)
  })

  it('client errors are never retried', async () => {
    const fleet = fakeFleet()
    fleet.set('a', { status: 422 })
    const gw = await testGateway(retrying(''), fleet)
    expect((await gw.chat()).status).toBe(422)
    expect(fleet.log).toEqual(['a'])
  })
})

describe('circuit breakers', () => {
  const yaml = abc('  defaultBackend: { name: a }\n  fallback: { backends: [b] }\n', {
    a: '  circuitBreaker: { consecutiveFailures: 3, cooldownSeconds: 10, maxCooldownSeconds: 60, halfOpenRequests: 1 }\n',
  })

  it('open after N consecutive failures: requests skip the backend; after the cooldown one probe closes it', async () => {
    const fleet = fakeFleet()
    fleet.set('a', { status: 503 })
    const clock = fakeClock(0, () => 0.5)
    const gw = await testGateway(yaml, fleet, clock)
    for (let i = 0; i < 3; i++) expect((await gw.chat()).headers.get('x-kortex-backend')).toBe('b')
    expect(fleet.calls.a).toBe(3)
    // Open: a is not even tried.
    for (let i = 0; i < 5; i++) expect((await gw.chat()).headers.get('x-kortex-attempts')).toBe('1')
    expect(fleet.calls.a).toBe(3)
    const breaker = () => gw.fleet.breaker(gw.config.backends.get('default/a')!).snapshot()
    expect(breaker().state).toBe('open')
    // Past the longest jittered cooldown the breaker lets one probe through; a has recovered.
    fleet.set('a', 'ok')
    clock.advance(60_000)
    expect((await gw.chat()).headers.get('x-kortex-backend')).toBe('a')
    expect(breaker().state).toBe('closed')
  })

  it('a failed probe reopens it', async () => {
    const fleet = fakeFleet()
    fleet.set('a', { status: 503 })
    const clock = fakeClock(0, () => 0.5)
    const gw = await testGateway(yaml, fleet, clock)
    for (let i = 0; i < 3; i++) await gw.chat()
    clock.advance(60_000)
    expect((await gw.chat()).headers.get('x-kortex-backend')).toBe('b')
    expect(fleet.calls.a).toBe(4)
    expect(gw.fleet.breaker(gw.config.backends.get('default/a')!).snapshot()).toMatchObject({ state: 'open', trips: 2 })
  })

  it('client errors never trip it', async () => {
    const fleet = fakeFleet()
    fleet.set('a', { status: 400 })
    const gw = await testGateway(yaml, fleet)
    for (let i = 0; i < 10; i++) expect((await gw.chat()).status).toBe(400)
    expect(fleet.calls.a).toBe(10)
  })

  it('a backend whose breaker is open is still tried as a last resort, when every other candidate failed', async () => {
    const fleet = fakeFleet()
    fleet.set('a', { status: 503 })
    const one = `${openGateway}---\n${backendsYaml(['a'], { a: '  circuitBreaker: { consecutiveFailures: 2 }\n' })}${route('  defaultBackend: { name: a }\n')}`
    const gw = await testGateway(one, fleet)
    for (let i = 0; i < 4; i++) expect((await gw.chat()).status).toBe(502)
    expect(gw.fleet.breaker(gw.config.backends.get('default/a')!).snapshot().state).toBe('open')
    expect(fleet.calls.a).toBe(4) // open, but the only candidate: tried rather than refused unasked
    fleet.set('a', 'ok')
    expect((await gw.chat()).status).toBe(200)
  })
})
