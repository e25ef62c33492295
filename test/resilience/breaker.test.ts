// The circuit breaker on a fake clock: every transition, the growing and
// jittered cooldown, half-open probe slots, the failure-rate window, and
// stale outcomes of requests sent before a trip.
import { describe, expect, it } from 'vitest'
import { backendSpec } from '../../src/config/schema.ts'
import { Breaker, BreakerRegistry, DEFAULT_BREAKER_POLICY, type BreakerPolicy, type BreakerState } from '../../src/resilience/breaker.ts'

const clock = (random = 0.5) => ({ t: 1_000_000, r: random, now() { return this.t }, random() { return this.r } })

const policy = (p: Partial<BreakerPolicy> = {}): BreakerPolicy => ({ ...DEFAULT_BREAKER_POLICY, jitter: 'none', ...p })

function setup(p: Partial<BreakerPolicy> = {}, random = 0.5) {
  const c = clock(random)
  const b = new Breaker(policy(p), c)
  const changes: string[] = []
  b.onChange = (from: BreakerState, to: BreakerState) => changes.push(`${from}>${to}`)
  const fail = (n = 1) => { for (let i = 0; i < n; i++) b.acquire()!.failure() }
  const succeed = (n = 1) => { for (let i = 0; i < n; i++) b.acquire()!.success() }
  return { c, b, changes, fail, succeed }
}

describe('schema', () => {
  it('the circuitBreaker block: every field optional, with these defaults', () => {
    expect(DEFAULT_BREAKER_POLICY).toEqual({
      enabled: true, consecutiveFailures: 5, failureRatePercent: 50, windowSeconds: 30, minimumRequests: 20,
      cooldownSeconds: 10, maxCooldownSeconds: 300, halfOpenRequests: 1, jitter: 'partial',
    })
    const spec = backendSpec.parse({ type: 'demo', circuitBreaker: { consecutiveFailures: 3, jitter: 'FULL' } })
    expect(spec.circuitBreaker).toMatchObject({ consecutiveFailures: 3, jitter: 'full', cooldownSeconds: 10 })
    expect(backendSpec.parse({ type: 'demo' }).circuitBreaker).toBeUndefined()
    expect(backendSpec.safeParse({ type: 'demo', circuitBreaker: { cooldownSeconds: 60, maxCooldownSeconds: 30 } }).success).toBe(false)
    expect(backendSpec.safeParse({ type: 'demo', circuitBreaker: { halfOpenRequests: 0 } }).success).toBe(false)
  })
})

describe('Breaker', () => {
  it('closed → open after N consecutive failures; a success in between starts the count again', () => {
    const { b, changes, fail, succeed } = setup()
    fail(4)
    succeed()
    fail(4)
    expect(b.snapshot()).toMatchObject({ state: 'closed', consecutiveFailures: 4 })
    fail()
    expect(b.snapshot()).toMatchObject({ state: 'open', trips: 1, consecutiveFailures: 0 })
    expect(changes).toEqual(['closed>open'])
    expect(b.available()).toBe(false)
    expect(b.acquire()).toBeUndefined()
  })

  it('open → half-open when the cooldown ends; a probe success closes it', () => {
    const { c, b, changes, fail } = setup()
    fail(5)
    expect(b.snapshot().openUntil).toBe(c.t + 10_000)
    c.t += 9_999
    expect(b.available()).toBe(false)
    c.t += 1
    expect(b.available()).toBe(true)
    expect(b.snapshot().state).toBe('half-open')
    b.acquire()!.success()
    expect(b.snapshot()).toMatchObject({ state: 'closed', windowRequests: 0, windowFailures: 0 })
    expect(changes).toEqual(['closed>open', 'open>half-open', 'half-open>closed'])
  })

  it('half-open admits exactly halfOpenRequests probes; release() frees a slot', () => {
    const { c, b, fail } = setup({ halfOpenRequests: 3 })
    fail(5)
    c.t += 10_000
    const probes = [b.acquire(), b.acquire(), b.acquire()]
    expect(probes.every(Boolean)).toBe(true)
    expect(b.available()).toBe(false)
    expect(b.acquire()).toBeUndefined()
    probes[0]!.release()
    probes[0]!.release() // once only
    expect(b.available()).toBe(true)
    const again = b.acquire()
    expect(again).toBeDefined()
    expect(b.acquire()).toBeUndefined()
    // A verdict after release() changes nothing.
    probes[0]!.failure()
    expect(b.snapshot().state).toBe('half-open')
  })

  it('a probe failure reopens with a doubled cooldown, capped at maxCooldownSeconds', () => {
    const { c, b, fail } = setup({ cooldownSeconds: 10, maxCooldownSeconds: 50 })
    fail(5)
    const cooldowns: number[] = []
    for (let i = 0; i < 5; i++) {
      const s = b.snapshot()
      cooldowns.push(s.openUntil! - c.t)
      c.t = s.openUntil!
      b.acquire()!.failure()
    }
    expect(cooldowns).toEqual([10_000, 20_000, 40_000, 50_000, 50_000])
    expect(b.snapshot().trips).toBe(6)
  })

  it('jitter: partial keeps the cooldown within [d/2, d], full within [0, d]', () => {
    for (const [jitter, lo] of [['partial', 0.5], ['full', 0]] as const) {
      for (const r of [0.001, 0.25, 0.999999]) {
        const { c, b, fail } = setup({ jitter, cooldownSeconds: 10 }, r)
        fail(5) // d = 10 s
        let wait = b.snapshot().openUntil! - c.t
        expect(wait).toBeGreaterThanOrEqual(10_000 * lo)
        expect(wait).toBeLessThanOrEqual(10_000)
        c.t = b.snapshot().openUntil!
        b.acquire()!.failure() // d = 20 s
        wait = b.snapshot().openUntil! - c.t
        expect(wait).toBeGreaterThanOrEqual(20_000 * lo)
        expect(wait).toBeLessThanOrEqual(20_000)
      }
    }
    const { c, b, fail } = setup({ jitter: 'partial' }, 0)
    fail(5)
    expect(b.snapshot().openUntil! - c.t).toBe(5_000)
    // Full jitter may allow a probe at once: still only halfOpenRequests of them.
    const full = setup({ jitter: 'full' }, 0)
    full.fail(5)
    expect(full.b.snapshot().state).toBe('half-open')
  })

  it('the trip count starts over once the breaker has stayed closed for a window', () => {
    const { c, b, fail } = setup({ windowSeconds: 30 })
    fail(5)
    c.t = b.snapshot().openUntil!
    b.acquire()!.failure() // second trip: 20 s
    c.t = b.snapshot().openUntil!
    b.acquire()!.success()
    fail(5) // soon after closing: third trip, 40 s
    expect(b.snapshot()).toMatchObject({ trips: 3, openUntil: c.t + 40_000 })
    c.t = b.snapshot().openUntil!
    b.acquire()!.success()
    c.t += 30_000
    expect(b.snapshot().trips).toBe(0)
    fail(5)
    expect(b.snapshot()).toMatchObject({ trips: 1, openUntil: c.t + 10_000 })
  })

  it('failure rate opens only once minimumRequests are in the window', () => {
    const { b, fail, succeed } = setup({ consecutiveFailures: 100, failureRatePercent: 50, minimumRequests: 20 })
    // 2 failures for each success: 67 %, but only 18 requests.
    for (let i = 0; i < 6; i++) {
      fail(2)
      succeed()
    }
    succeed()
    expect(b.snapshot()).toMatchObject({ state: 'closed', windowRequests: 19, windowFailures: 12 })
    fail()
    expect(b.snapshot()).toMatchObject({ state: 'open', trips: 1 })
  })

  it('a rate under the threshold stays closed however many requests', () => {
    const { b, fail, succeed } = setup({ consecutiveFailures: 100, failureRatePercent: 50, minimumRequests: 4 })
    for (let i = 0; i < 50; i++) {
      succeed(2)
      fail()
    }
    expect(b.snapshot()).toMatchObject({ state: 'closed', windowRequests: 150, windowFailures: 50 })
  })

  it('the window forgets failures older than windowSeconds', () => {
    const { c, b, fail, succeed } = setup({ consecutiveFailures: 100, windowSeconds: 30, minimumRequests: 20 })
    for (let i = 0; i < 9; i++) {
      fail()
      succeed()
    }
    fail() // 10 of 19
    expect(b.snapshot()).toMatchObject({ windowRequests: 19, windowFailures: 10 })
    c.t += 15_000
    succeed()
    expect(b.snapshot()).toMatchObject({ windowRequests: 20, windowFailures: 10 })
    c.t += 16_000 // the first 19 are now over 30 s old
    expect(b.snapshot()).toMatchObject({ windowRequests: 1, windowFailures: 0 })
    fail()
    expect(b.snapshot()).toMatchObject({ state: 'closed', windowRequests: 2, windowFailures: 1 })
  })

  it('outcomes of requests sent before a trip move nothing', () => {
    const { c, b, fail } = setup()
    const slow = b.acquire()!
    const slowToo = b.acquire()!
    fail(5)
    slow.success() // while open: no early close
    expect(b.snapshot().state).toBe('open')
    c.t = b.snapshot().openUntil!
    const probe = b.acquire()!
    slowToo.failure() // while half-open: no reopening on old news
    expect(b.snapshot()).toMatchObject({ state: 'half-open', trips: 1 })
    expect(b.acquire()).toBeUndefined() // the probe slot is still taken
    probe.success()
    expect(b.snapshot().state).toBe('closed')
  })

  it('probes still out when one probe decides are stale', () => {
    const { c, b, fail } = setup({ halfOpenRequests: 2 })
    fail(5)
    c.t = b.snapshot().openUntil!
    const [p1, p2] = [b.acquire()!, b.acquire()!]
    p1.success()
    p2.failure()
    expect(b.snapshot()).toMatchObject({ state: 'closed', consecutiveFailures: 0, windowFailures: 0 })
  })

  it('enabled: false never refuses and never trips', () => {
    const { b, fail, changes } = setup({ enabled: false })
    fail(100)
    expect(b.available()).toBe(true)
    expect(b.snapshot().state).toBe('closed')
    expect(changes).toEqual([])
  })
})

describe('BreakerRegistry', () => {
  it('one breaker per key; a reload with an equal policy keeps its state, a changed one starts fresh', () => {
    const c = clock()
    const seen: string[] = []
    const reg = new BreakerRegistry({ clock: c, onChange: (key, from, to) => seen.push(`${key} ${from}>${to}`) })
    const a = reg.get('ns/a', policy())
    for (let i = 0; i < 5; i++) a.acquire()!.failure()
    expect(seen).toEqual(['ns/a closed>open'])
    expect(reg.get('ns/a', policy())).toBe(a) // a new, equal object
    expect(reg.get('ns/a', policy()).snapshot().state).toBe('open')
    expect(reg.get('ns/b')).not.toBe(a)
    expect(reg.get('ns/b').policy).toBe(DEFAULT_BREAKER_POLICY)
    const changed = reg.get('ns/a', policy({ consecutiveFailures: 9 }))
    expect(changed).not.toBe(a)
    expect(changed.snapshot().state).toBe('closed')
    reg.retain(['ns/b'])
    expect([...reg.entries()].map(([k]) => k)).toEqual(['ns/b'])
  })
})
