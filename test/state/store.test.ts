// One behaviour suite for every StateStore: the in-memory one (with an
// injected clock) and the Redis one (whose clock is Redis's own, so time moves
// by real, short waits). Assertions are on what is admitted and stored, never
// on how fast. Needs Redis at $REDIS_URL (default 127.0.0.1:6379): when it is
// unreachable the Redis half fails under CI and is skipped elsewhere.
import { createClient } from 'redis'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { RedisStore } from '../../adapters/redis/store.ts'
import { MemoryStore } from '../../src/state/memory.ts'
import type { Admission, StateStore } from '../../src/state/store.ts'
import { shardOf } from '../../adapters/cloudflare/do-store.ts'
import { startDoStores, type DoStores } from '../adapters/cloudflare-store.ts'
import { REDIS_URL, requireRedis } from '../helpers/redis.ts'

const redisUp = await requireRedis('Redis store tests')

// Deletes what the Redis half wrote (some keys never expire), prefix by prefix.
const redisRaw = redisUp ? await createClient({ url: REDIS_URL }).on('error', () => {}).connect() : undefined
afterAll(async () => {
  await redisRaw?.close()
})
async function dropPrefix(prefix: string) {
  if (!redisRaw) return
  const keys: string[] = []
  for await (const batch of redisRaw.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) keys.push(...([] as string[]).concat(batch))
  if (keys.length) await redisRaw.del(keys)
}

interface Harness {
  store: StateStore
  /** Lets `ms` of the store's time pass. */
  advance(ms: number): Promise<void>
  /** Waits until the store's time is `fraction` of the way through a window of `periodMs` counted from the epoch. */
  alignTo(periodMs: number, fraction: number): Promise<void>
  /** The harness's own reading of time, ms: an upper bound on how much passed for the store between two readings. */
  elapsedSince(start: number): number
  now(): number
  close(): Promise<void>
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

const factories: Array<{ name: string; available: boolean; make(): Promise<Harness> }> = [
  {
    name: 'MemoryStore',
    available: true,
    async make() {
      let t = 1_700_000_000_000
      return {
        store: new MemoryStore(() => t),
        advance: async (ms) => void (t += ms),
        alignTo: async (p, f) => void (t += (((f * p - (t % p)) % p) + p) % p),
        elapsedSince: (start) => t - start,
        now: () => t,
        close: async () => {},
      }
    },
  },
  {
    name: 'RedisStore',
    available: redisUp,
    async make() {
      const prefix = `kortex-test:${process.pid}:${Math.random().toString(36).slice(2)}:`
      const store = new RedisStore({ url: REDIS_URL, prefix, timeoutMs: 1000 })
      await store.ready(2000)
      return {
        store,
        advance: (ms) => sleep(ms),
        // Redis's TIME is this machine's clock.
        alignTo: (p, f) => sleep((((f * p - (Date.now() % p)) % p) + p) % p),
        elapsedSince: (start) => performance.now() - start,
        now: () => performance.now(),
        close: async () => {
          await store.close()
          await dropPrefix(prefix)
        },
      }
    },
  },
]

// Durable Objects: one workerd (miniflare) for the whole file, fresh objects per test.
let doStores: Promise<DoStores> | undefined
afterAll(async () => {
  await (await doStores)?.close()
})
factories.push({
  name: 'DurableObjectStore (workerd)',
  available: true,
  async make() {
    const stores = await (doStores ??= startDoStores())
    const prefix = `t-${Math.random().toString(36).slice(2)}-`
    // The objects' clock is pinned and moved by the test, as MemoryStore's is.
    let t = 1_700_000_000_000
    await stores.setClock(prefix, t)
    return {
      store: stores.store(prefix),
      advance: async (ms) => stores.setClock(prefix, (t += ms)),
      alignTo: async (p, f) => stores.setClock(prefix, (t += (((f * p - (t % p)) % p) + p) % p)),
      elapsedSince: (start) => t - start,
      now: () => t,
      close: async () => {},
    }
  },
})

const one = (key: string, limit: number, periodMs: number, cost = 1): Admission => ({ rates: [{ key, limit, periodMs, cost }], budgets: [] })
const HOUR = 3_600_000

describe.each(factories)('$name', (f) => {
  const test = it.skipIf(!f.available)
  let h: Harness
  let s: StateStore
  beforeEach(async () => {
    if (!f.available) return
    h = await f.make()
    s = h.store
  })
  afterEach(async () => {
    await h?.close()
  })

  describe('rate limits (GCRA)', () => {
    test("reports what remains to the unit when the interval is short (100,000 tokens a minute, epoch-ms clocks)", async () => {
      // A fresh window less `cost` leaves exactly limit - cost, however large the clock's numbers.
      const off: number[] = []
      for (let cost = 1; cost <= 40; cost++) {
        const r = await s.admit(one(`fine-${cost}`, 100_000, 60_000, cost))
        if (r.rates[0]!.remaining !== 100_000 - cost) off.push(cost)
      }
      expect(off).toEqual([])
    })

    test('admits a full burst at once, then refills evenly, one unit per period/limit', async () => {
      // 5 per 1000 ms: one unit every 200 ms.
      const remaining: number[] = []
      for (let i = 0; i < 5; i++) {
        const r = await s.admit(one('burst', 5, 1000))
        expect(r.allowed).toBe(true)
        remaining.push(r.rates[0]!.remaining)
      }
      expect(remaining).toEqual([4, 3, 2, 1, 0])
      const refused = await s.admit(one('burst', 5, 1000))
      expect(refused.allowed).toBe(false)
      expect(refused.rates[0]).toMatchObject({ key: 'burst', allowed: false, limit: 5, remaining: 0 })
      expect(refused.rates[0]!.retryAfterMs).toBeGreaterThan(0)
      expect(refused.rates[0]!.retryAfterMs).toBeLessThanOrEqual(200)
      expect(refused.rates[0]!.resetMs).toBeGreaterThan(800)
      expect(refused.rates[0]!.resetMs).toBeLessThanOrEqual(1000)

      // After retryAfter, exactly one more unit (the next needs another 200 ms).
      await h.advance(refused.rates[0]!.retryAfterMs + 20)
      expect((await s.admit(one('burst', 5, 1000))).allowed).toBe(true)
      expect((await s.admit(one('burst', 5, 1000))).allowed).toBe(false)

      // Two intervals later, exactly two.
      await h.advance(2 * 200 + 20)
      const after = await Promise.all(Array.from({ length: 5 }, () => s.admit(one('burst', 5, 1000))))
      expect(after.filter((r) => r.allowed)).toHaveLength(2)

      // A whole idle period later, the whole burst again (the key has lapsed).
      await h.advance(1000 + 20)
      const again = await Promise.all(Array.from({ length: 6 }, () => s.admit(one('burst', 5, 1000))))
      expect(again.filter((r) => r.allowed)).toHaveLength(5)
    })

    test('no boundary burst: 2 × limit cannot pass across a window boundary', async () => {
      // A fixed window of 1000 ms would pass 10 at 0.9 s and 10 more at 1.1 s.
      const period = 1000
      await h.alignTo(period, 0.9)
      const start = h.now()
      const first = await Promise.all(Array.from({ length: 10 }, () => s.admit(one('boundary', 10, period))))
      await h.advance(200) // across the boundary at 1.0 s
      const second = await Promise.all(Array.from({ length: 10 }, () => s.admit(one('boundary', 10, period))))
      const elapsed = h.elapsedSince(start)
      const n1 = first.filter((r) => r.allowed).length
      const n2 = second.filter((r) => r.allowed).length
      expect(n1).toBe(10)
      // Only what refilled meanwhile: one unit per 100 ms elapsed.
      expect(n1 + n2).toBeLessThanOrEqual(10 + Math.floor(elapsed / 100))
      expect(n1 + n2).toBeLessThan(20)
      expect(n2).toBeGreaterThanOrEqual(1)
    })

    test('a cost above the limit is refused with retryAfter Infinity, and takes nothing', async () => {
      const r = await s.admit(one('big', 10, HOUR, 11))
      expect(r.allowed).toBe(false)
      expect(r.rates[0]).toMatchObject({ allowed: false, limit: 10, remaining: 10, resetMs: 0 })
      expect(r.rates[0]!.retryAfterMs).toBe(Infinity)
      const after = await s.admit(one('big', 10, HOUR, 10))
      expect(after.allowed).toBe(true)
      expect(after.rates[0]!.remaining).toBe(0)
    })

    test('a cost takes that many units at once (token limits)', async () => {
      const r = await s.admit(one('tokens', 1000, HOUR, 600))
      expect(r.rates[0]).toMatchObject({ allowed: true, remaining: 400 })
      const refused = await s.admit(one('tokens', 1000, HOUR, 500))
      expect(refused.allowed).toBe(false)
      expect(refused.rates[0]!.remaining).toBe(400)
      // 100 more units must refill: 100 × 3.6 s.
      expect(refused.rates[0]!.retryAfterMs).toBeGreaterThan(360_000 - 5_000)
      expect(refused.rates[0]!.retryAfterMs).toBeLessThanOrEqual(360_000)
      expect((await s.admit(one('tokens', 1000, HOUR, 400))).allowed).toBe(true)
    })

    test('returns fractional times precisely (not truncated to integers)', async () => {
      // 7 per hour: one unit every 514285.714285... ms.
      const r = await s.admit(one('frac', 7, HOUR))
      expect(r.rates[0]!.resetMs).toBeCloseTo(HOUR / 7, 2)
      expect(Number.isInteger(r.rates[0]!.resetMs)).toBe(false)
    })

    test('concurrent admits never over-admit', async () => {
      const results = await Promise.all(Array.from({ length: 50 }, () => s.admit(one('race', 20, HOUR))))
      expect(results.filter((r) => r.allowed)).toHaveLength(20)
    })
  })

  describe('admission is all-or-nothing', () => {
    test('one exhausted rate refuses the whole admission; the others take nothing', async () => {
      await s.admit(one('full', 1, HOUR))
      const a: Admission = {
        rates: [
          { key: 'room', limit: 10, periodMs: HOUR, cost: 3 },
          { key: 'full', limit: 1, periodMs: HOUR, cost: 1 },
        ],
        budgets: [{ key: 'budget', amount: 50, limit: 100, ttlSeconds: 3600 }],
      }
      const r = await s.admit(a)
      expect(r.allowed).toBe(false)
      // Each check says whether it passed on its own, with what is left untouched.
      expect(r.rates[0]).toMatchObject({ key: 'room', allowed: true, remaining: 10, retryAfterMs: 0 })
      expect(r.rates[1]).toMatchObject({ key: 'full', allowed: false, remaining: 0 })
      expect(r.budgets[0]).toEqual({ key: 'budget', allowed: true, total: 0, limit: 100 })
      expect(await s.counters(['budget'])).toEqual([0])
      expect((await s.admit(one('room', 10, HOUR, 10))).allowed).toBe(true) // nothing was taken from 'room'
    })

    test('an exceeded budget refuses the whole admission; the rates take nothing', async () => {
      await s.admit({ rates: [], budgets: [{ key: 'spend', amount: 90, limit: 100, ttlSeconds: 3600 }] })
      const a: Admission = {
        rates: [{ key: 'r1', limit: 5, periodMs: HOUR, cost: 1 }],
        budgets: [
          { key: 'other', amount: 1, limit: 100, ttlSeconds: 3600 },
          { key: 'spend', amount: 11, limit: 100, ttlSeconds: 3600 },
        ],
      }
      const r = await s.admit(a)
      expect(r.allowed).toBe(false)
      expect(r.rates[0]).toMatchObject({ allowed: true, remaining: 5 })
      expect(r.budgets).toEqual([
        { key: 'other', allowed: true, total: 0, limit: 100 },
        { key: 'spend', allowed: false, total: 90, limit: 100 },
      ])
      expect(await s.counters(['other', 'spend'])).toEqual([0, 90])
      expect((await s.admit(one('r1', 5, HOUR, 5))).allowed).toBe(true)
    })

    test('when every check passes, every one is taken', async () => {
      const a: Admission = {
        rates: [
          { key: 'route', limit: 10, periodMs: HOUR, cost: 1 },
          { key: 'tokens', limit: 1000, periodMs: HOUR, cost: 250 },
        ],
        budgets: [
          { key: 'team', amount: 40, limit: 100, ttlSeconds: 3600 },
          { key: 'key', amount: 40, limit: 50, ttlSeconds: 3600 },
        ],
      }
      const r = await s.admit(a)
      expect(r.allowed).toBe(true)
      expect(r.rates.map((x) => [x.key, x.allowed, x.remaining])).toEqual([
        ['route', true, 9],
        ['tokens', true, 750],
      ])
      expect(r.budgets).toEqual([
        { key: 'team', allowed: true, total: 40, limit: 100 },
        { key: 'key', allowed: true, total: 40, limit: 50 },
      ])
      expect(await s.counters(['team', 'key'])).toEqual([40, 40])
      // The second one fails on 'key' alone (80 > 50), so 'team' stays at 40.
      const second = await s.admit(a)
      expect(second.allowed).toBe(false)
      expect(second.budgets.map((b) => [b.allowed, b.total])).toEqual([
        [true, 40],
        [false, 40],
      ])
      expect(await s.counters(['team', 'key'])).toEqual([40, 40])
    })

    test('a budget admits exactly up to its limit, then refuses', async () => {
      const reserve = () => s.admit({ rates: [], budgets: [{ key: 'b', amount: 1, limit: 20, ttlSeconds: 3600 }] })
      const results = await Promise.all(Array.from({ length: 30 }, reserve))
      expect(results.filter((r) => r.allowed)).toHaveLength(20)
      expect(await s.counters(['b'])).toEqual([20])
    })

    // Keys shaped as the gateway's: a route's limit, an API key's, a team's budget. On Durable Objects (4 objects
    // here) they live in three different objects, so the admission is coordinated by one of them, which asks the others.
    const route = 'rl:route:default/chat:requestsPerMinute'
    const key = 'rl:key:app:requestsPerMinute'
    const team = 'bg:team:ml:2026-11'
    const scoped = (routeCost = 1, keyCost = 1, spend = 10): Admission => ({
      rates: [
        { key: route, limit: 3, periodMs: HOUR, cost: routeCost },
        { key, limit: 2, periodMs: HOUR, cost: keyCost },
      ],
      budgets: [{ key: team, amount: spend, limit: 100, ttlSeconds: 3600 }],
    })

    test('limits of three scopes (three Durable Objects): a refusal by any one takes nothing from the others', async () => {
      expect(new Set([route, key, team].map((k) => shardOf(k, 4))).size).toBe(3)
      expect((await s.admit(scoped())).allowed).toBe(true)
      // The key's limit refuses (2 + 1 > 2); the route and the budget are reported, and left, as they were.
      const byKey = await s.admit(scoped(1, 2))
      expect(byKey.allowed).toBe(false)
      expect(byKey.rates.map((r) => [r.key, r.allowed, r.remaining])).toEqual([
        [route, true, 2],
        [key, false, 1],
      ])
      expect(byKey.budgets).toEqual([{ key: team, allowed: true, total: 10, limit: 100 }])
      // The budget refuses; then the route.
      expect((await s.admit(scoped(1, 1, 91))).allowed).toBe(false)
      expect((await s.admit(scoped(3, 0, 0))).allowed).toBe(false)
      expect(await s.counters([team])).toEqual([10])
      // Nothing was taken by the refused ones: the route has 2 left, the key 1.
      expect((await s.admit(one(route, 3, HOUR, 2))).allowed).toBe(true)
      expect((await s.admit(one(key, 2, HOUR, 1))).allowed).toBe(true)
      // And a settlement across them reaches each.
      await s.settle({ rates: [{ key: route, limit: 3, periodMs: HOUR, delta: -1 }, { key, limit: 2, periodMs: HOUR, delta: -2 }], counters: [{ key: team, delta: 5, ttlSeconds: 3600 }] })
      expect((await s.admit({ rates: [{ key: route, limit: 3, periodMs: HOUR, cost: 0 }, { key, limit: 2, periodMs: HOUR, cost: 0 }], budgets: [] })).rates.map((r) => r.remaining)).toEqual([1, 2])
      expect(await s.counters([team])).toEqual([15])
    })

    test('concurrent admissions across scopes never over-admit, and what a refused one took is given back', async () => {
      const a = (): Admission => ({
        rates: [
          { key: route, limit: 20, periodMs: HOUR, cost: 1 },
          { key, limit: 100, periodMs: HOUR, cost: 1 },
        ],
        budgets: [],
      })
      const results = await Promise.all(Array.from({ length: 30 }, () => s.admit(a())))
      expect(results.filter((r) => r.allowed)).toHaveLength(20)
      expect((await s.admit(one(key, 100, HOUR, 0))).rates[0]!.remaining).toBe(80)
    })
  })

  describe('settle', () => {
    test('gives units back to a rate (token reservation above actual usage)', async () => {
      expect((await s.admit(one('tpm', 1000, HOUR, 1000))).allowed).toBe(true)
      expect((await s.admit(one('tpm', 1000, HOUR, 1))).allowed).toBe(false)
      await s.settle({ rates: [{ key: 'tpm', limit: 1000, periodMs: HOUR, delta: -700 }], counters: [] })
      const r = await s.admit(one('tpm', 1000, HOUR, 700))
      expect(r.allowed).toBe(true)
      expect(r.rates[0]!.remaining).toBe(0)
    })

    test('takes units after the fact, even beyond the limit (never refused)', async () => {
      await s.settle({ rates: [{ key: 'late', limit: 10, periodMs: HOUR, delta: 3 }], counters: [] })
      expect((await s.admit(one('late', 10, HOUR, 0))).rates[0]!.remaining).toBe(7)
      // Beyond the limit: in debt until 25 units' worth of time has passed.
      await s.settle({ rates: [{ key: 'debt', limit: 10, periodMs: HOUR, delta: 25 }], counters: [] })
      const r = await s.admit(one('debt', 10, HOUR, 1))
      expect(r.allowed).toBe(false)
      // The 26th unit fits once TAT + interval - now <= period: after 16 intervals of 6 min.
      expect(r.rates[0]!.retryAfterMs).toBeGreaterThan(16 * 360_000 - 5_000)
      expect(r.rates[0]!.retryAfterMs).toBeLessThanOrEqual(16 * 360_000)
    })

    test('a debt beyond the limit outlives one period (the key is kept until its TAT)', async () => {
      // 10 per 1000 ms, 25 units taken: TAT is 2.5 s ahead.
      await s.settle({ rates: [{ key: 'long-debt', limit: 10, periodMs: 1000, delta: 25 }], counters: [] })
      await h.advance(1200)
      const r = await s.admit(one('long-debt', 10, 1000))
      expect(r.allowed).toBe(false)
      expect(r.rates[0]!.retryAfterMs).toBeGreaterThan(0)
      expect(r.rates[0]!.retryAfterMs).toBeLessThanOrEqual(400)
    })

    test('giving back more than was taken leaves the full limit, no more', async () => {
      await s.admit(one('over', 5, HOUR, 2))
      await s.settle({ rates: [{ key: 'over', limit: 5, periodMs: HOUR, delta: -50 }], counters: [] })
      const results = await Promise.all(Array.from({ length: 7 }, () => s.admit(one('over', 5, HOUR))))
      expect(results.filter((r) => r.allowed)).toHaveLength(5)
    })

    test('moves counters up and down, creating them when absent', async () => {
      await s.admit({ rates: [], budgets: [{ key: 'cost', amount: 100, limit: 1000, ttlSeconds: 3600 }] })
      await s.settle({
        rates: [],
        counters: [
          { key: 'cost', delta: -40, ttlSeconds: 3600 },
          { key: 'fresh', delta: 7, ttlSeconds: 3600 },
        ],
      })
      expect(await s.counters(['cost', 'fresh', 'absent'])).toEqual([60, 7, 0])
      await s.settle({ rates: [], counters: [{ key: 'fresh', delta: 5, ttlSeconds: 3600 }] })
      expect(await s.counters(['fresh'])).toEqual([12])
    })

    test('rates and counters in one settlement', async () => {
      await s.admit({ rates: [{ key: 'tok', limit: 100, periodMs: HOUR, cost: 80 }], budgets: [{ key: 'usd', amount: 500, limit: 1000, ttlSeconds: 3600 }] })
      await s.settle({ rates: [{ key: 'tok', limit: 100, periodMs: HOUR, delta: -30 }], counters: [{ key: 'usd', delta: -120, ttlSeconds: 3600 }] })
      expect((await s.admit(one('tok', 100, HOUR, 0))).rates[0]!.remaining).toBe(50)
      expect(await s.counters(['usd'])).toEqual([380])
    })
  })

  describe('expiry', () => {
    test('counters expire after their ttl, counted from creation (later reservations keep it)', async () => {
      const reserve = () => s.admit({ rates: [], budgets: [{ key: 'day', amount: 1, limit: 100, ttlSeconds: 1 }] })
      await reserve()
      await h.advance(300)
      await reserve()
      expect(await s.counters(['day'])).toEqual([2])
      await h.advance(800) // 1.1 s after creation, 0.8 s after the second reservation
      expect(await s.counters(['day'])).toEqual([0])
      await s.settle({ rates: [], counters: [{ key: 'settled', delta: 3, ttlSeconds: 0.3 }] })
      expect(await s.counters(['settled'])).toEqual([3])
      await h.advance(400)
      expect(await s.counters(['settled'])).toEqual([0])
    })

    test('values and hashes expire after their ttl; without one they stay', async () => {
      await s.put('v', 'x', { ttlSeconds: 0.3 })
      await s.put('forever', 'y')
      await s.addFields('h', { n: 1 }, 0.3)
      await s.addFields('h-forever', { n: 1 })
      expect(await s.get('v')).toBe('x')
      expect(await s.readFields('h')).toEqual({ n: 1 })
      await h.advance(400)
      expect(await s.get('v')).toBeUndefined()
      expect(await s.readFields('h')).toEqual({})
      expect(await s.get('forever')).toBe('y')
      expect(await s.readFields('h-forever')).toEqual({ n: 1 })
      // An expired ifAbsent value can be put again.
      await s.put('once', 'a', { ttlSeconds: 0.2, ifAbsent: true })
      await h.advance(300)
      expect(await s.put('once', 'b', { ifAbsent: true })).toBe('b')
    })

    test('addFields renews the hash expiry on every write', async () => {
      await s.addFields('agg', { n: 1 }, 0.5)
      await h.advance(300)
      await s.addFields('agg', { n: 1 }, 0.5)
      await h.advance(300)
      expect(await s.readFields('agg')).toEqual({ n: 2 })
    })
  })

  describe('fields, values, counters', () => {
    test('addFields sums per field; readFields returns numbers', async () => {
      await s.addFields('exp:a', { count: 1, latencyMs: 120.5, cost: 3 }, 3600)
      await s.addFields('exp:a', { count: 1, latencyMs: 79.25, errors: 1 }, 3600)
      await s.addFields('exp:a', { count: 1, cost: -1 })
      expect(await s.readFields('exp:a')).toEqual({ count: 3, latencyMs: 199.75, cost: 2, errors: 1 })
      expect(await s.readFields('exp:none')).toEqual({})
    })

    test('concurrent addFields lose no increment', async () => {
      await Promise.all(Array.from({ length: 40 }, (_, i) => s.addFields('agg:c', { n: 1, sum: i }, 3600)))
      expect(await s.readFields('agg:c')).toEqual({ n: 40, sum: 780 })
    })

    test('put with ifAbsent keeps the first value and answers the value in force', async () => {
      expect(await s.put('assign', 'A', { ifAbsent: true, ttlSeconds: 3600 })).toBe('A')
      expect(await s.put('assign', 'B', { ifAbsent: true, ttlSeconds: 3600 })).toBe('A')
      expect(await s.get('assign')).toBe('A')
      expect(await s.put('assign', 'C')).toBe('C')
      expect(await s.get('assign')).toBe('C')
      expect(await s.get('missing')).toBeUndefined()
      const raced = await Promise.all(['x', 'y', 'z'].map((v) => s.put('race', v, { ifAbsent: true })))
      expect(new Set(raced).size).toBe(1)
    })

    test('counters are 0 when absent, and [] for no keys', async () => {
      expect(await s.counters(['nope', 'nada'])).toEqual([0, 0])
      expect(await s.counters([])).toEqual([])
    })
  })
})
