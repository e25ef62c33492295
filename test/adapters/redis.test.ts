// RedisStore against real Redis: exactness across instances sharing one
// Redis, keys namespaced and expiring, and outages. The outage tests start
// their own redis-server on a free port (stopped by its pid), so the shared
// one on 6379 is never disturbed. When Redis is unreachable these tests fail
// under CI and are skipped elsewhere.
import type { ChildProcess } from 'node:child_process'
import { createClient } from 'redis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ADMIT, ADD_FIELDS, SETTLE } from '../../adapters/redis/scripts.ts'
import { RedisStore, RedisUnavailableError } from '../../adapters/redis/store.ts'
import type { Admission } from '../../src/state/store.ts'
import { REDIS_URL, freePort, requireRedis, startRedis, stopRedis } from '../helpers/redis.ts'

const HOUR = 3_600_000
const one = (key: string, limit: number, periodMs: number, cost = 1): Admission => ({ rates: [{ key, limit, periodMs, cost }], budgets: [] })
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const prefix = `kortex-test:${process.pid}:${Math.random().toString(36).slice(2)}:`

const redisUp = await requireRedis('Redis tests')

const stores: RedisStore[] = []
function store(opts: ConstructorParameters<typeof RedisStore>[0] = {}): RedisStore {
  // A generous timeout unless a test asks otherwise: this machine may be busy.
  const s = new RedisStore({ url: REDIS_URL, prefix, timeoutMs: 1000, ...opts })
  stores.push(s)
  return s
}
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()))
})

describe.skipIf(!redisUp)('RedisStore on a shared Redis', () => {
  const raw = createClient({ url: REDIS_URL })
  raw.on('error', () => {})
  beforeAll(async () => {
    await raw.connect()
  })
  afterAll(async () => {
    if (!raw.isOpen) return
    const keys: string[] = []
    for await (const batch of raw.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) keys.push(...([] as string[]).concat(batch))
    if (keys.length) await raw.del(keys)
    await raw.close()
  })

  it('shared breakers: the latest trip wins, instances see each other\'s, run-out trips drop', async () => {
    const [a, b] = [store(), store()]
    await Promise.all([a.ready(), b.ready()])
    const now = Date.now()
    await a.tripBreaker('default/gpt', now + 60_000)
    await b.tripBreaker('default/gpt', now + 30_000) // an earlier end does not shorten it
    await b.tripBreaker('default/claude', now + 300) // runs out soon
    expect(await b.openBreakers()).toEqual({ 'default/gpt': now + 60_000, 'default/claude': now + 300 })
    await sleep(400)
    expect(await a.openBreakers()).toEqual({ 'default/gpt': now + 60_000 })
  })

  it('one instance: 50 concurrent admits of a limit of 20 admit exactly 20', async () => {
    const s = store()
    await s.ready()
    const results = await Promise.all(Array.from({ length: 50 }, () => s.admit(one('single', 20, HOUR))))
    expect(results.filter((r) => r.allowed)).toHaveLength(20)
  })

  it('two instances (two clients) sharing Redis enforce one limit exactly under parallel load', async () => {
    const a = store()
    const b = store()
    await Promise.all([a.ready(), b.ready()])
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).admit(one('shared', 20, HOUR))))
    expect(results.filter((r) => r.allowed)).toHaveLength(20)

    // One limit, not one each: 12 taken through a, then both race for the rest.
    for (let i = 0; i < 12; i++) expect((await a.admit(one('split', 20, HOUR))).allowed).toBe(true)
    const rest = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).admit(one('split', 20, HOUR))))
    expect(rest.filter((r) => r.allowed)).toHaveLength(8)

    // Token-sized costs: 1000 per hour, 60 requests of 37 → exactly 27 fit.
    const tokens = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).admit(one('tpm', 1000, HOUR, 37))))
    expect(tokens.filter((r) => r.allowed)).toHaveLength(27)

    // Budgets and several limits at once, all-or-nothing across both: 100 units, 3 per request → 33.
    const both = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        (i % 2 ? a : b).admit({
          rates: [{ key: 'rpm-wide', limit: 1000, periodMs: HOUR, cost: 1 }],
          budgets: [{ key: 'budget', amount: 3, limit: 100, ttlSeconds: 3600 }],
        }),
      ),
    )
    expect(both.filter((r) => r.allowed)).toHaveLength(33)
    expect(await a.counters(['budget'])).toEqual([99])
    // The 17 refused requests took nothing from the wide limit.
    expect((await b.admit(one('rpm-wide', 1000, HOUR, 0))).rates[0]!.remaining).toBe(1000 - 33)

    // Settlements from both instances all land.
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).settle({ rates: [], counters: [{ key: 'budget', delta: -1, ttlSeconds: 3600 }] })))
    expect(await b.counters(['budget'])).toEqual([59])
  })

  it('namespaces every key under the prefix and lets it expire', async () => {
    const s = store()
    await s.ready()
    await s.admit({ rates: [{ key: 'rk', limit: 10, periodMs: 60_000, cost: 1 }], budgets: [{ key: 'bk', amount: 5, limit: 100, ttlSeconds: 120 }] })
    await s.settle({ rates: [], counters: [{ key: 'ck', delta: 1, ttlSeconds: 30 }] })
    await s.addFields('hk', { n: 1 }, 90)
    await s.addFields('hk-forever', { n: 1 })
    await s.put('vk', 'v', { ttlSeconds: 45 })
    const pttl = (k: string) => raw.pTTL(prefix + k)
    expect(await raw.exists(['rk', 'bk', 'ck', 'hk', 'vk'])).toBe(0) // nothing outside the prefix
    const rk = await pttl('rk')
    expect(rk).toBeGreaterThan(59_000) // the period, plus a second
    expect(rk).toBeLessThanOrEqual(61_000)
    expect(await pttl('bk')).toBeGreaterThan(119_000)
    expect(await pttl('bk')).toBeLessThanOrEqual(120_000)
    expect(await pttl('ck')).toBeLessThanOrEqual(30_000)
    expect(await pttl('hk')).toBeLessThanOrEqual(90_000)
    expect(await pttl('hk')).toBeGreaterThan(80_000)
    expect(await pttl('vk')).toBeLessThanOrEqual(45_000)
    expect(await pttl('hk-forever')).toBe(-1) // no ttl asked: none set
    // A later reservation keeps the budget counter's expiry.
    await s.admit({ rates: [], budgets: [{ key: 'bk', amount: 5, limit: 100, ttlSeconds: 999 }] })
    expect(await pttl('bk')).toBeLessThanOrEqual(120_000)
    // The TAT is stored with full precision (not truncated to an integer).
    await s.admit(one('frac', 7, HOUR))
    expect(await raw.get(prefix + 'frac')).toMatch(/\./)
  })

  it('refuses a bad call with a plain error, not "unavailable"', async () => {
    const s = store()
    await s.ready()
    await s.put('a-string', 'not a hash')
    const err = await s.readFields('a-string').then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(Error)
    expect(err).not.toBeInstanceOf(RedisUnavailableError)
    expect((err as Error).message).toMatch(/WRONGTYPE/)
    // ...and the store goes on working.
    expect(await s.get('a-string')).toBe('not a hash')
  })
})

async function eventually<T>(fn: () => Promise<T>, ms: number): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (Date.now() > deadline) throw err
      await sleep(50)
    }
  }
}

describe.skipIf(!redisUp)('RedisStore when Redis goes away', () => {
  const password = `pw-${Math.random().toString(36).slice(2)}-secret`
  let port = 0
  let server: ChildProcess | undefined
  afterAll(async () => {
    await stopRedis(server, 'SIGKILL')
  })

  type Call = [string, (s: RedisStore) => Promise<unknown>]
  const calls: Call[] = [
    ['admit', (s) => s.admit({ rates: [{ key: 'r', limit: 5, periodMs: HOUR, cost: 1 }], budgets: [{ key: 'b', amount: 1, limit: 10, ttlSeconds: 60 }] })],
    ['settle', (s) => s.settle({ rates: [{ key: 'r', limit: 5, periodMs: HOUR, delta: -1 }], counters: [{ key: 'b', delta: -1, ttlSeconds: 60 }] })],
    ['counters', (s) => s.counters(['b'])],
    ['addFields', (s) => s.addFields('h', { n: 1 }, 60)],
    ['readFields', (s) => s.readFields('h')],
    ['put', (s) => s.put('v', 'x', { ifAbsent: true })],
    ['get', (s) => s.get('v')],
  ]

  /** Every operation rejects with RedisUnavailableError, each well before anything could be called a hang. */
  async function expectAllRejectFast(s: RedisStore, timeoutMs: number) {
    for (const [name, call] of calls) {
      const t0 = performance.now()
      const err = await call(s).then(
        () => undefined,
        (e: unknown) => e,
      )
      const took = performance.now() - t0
      expect(err, name).toBeInstanceOf(RedisUnavailableError)
      expect((err as Error).message, name).toMatch(/^Redis is unavailable at redis:\/\/127\.0\.0\.1:\d+: /)
      expect((err as Error).message, name).not.toContain(password)
      expect(took, `${name} took ${took} ms`).toBeLessThan(timeoutMs + 900)
    }
    // And many at once, the way a busy gateway calls.
    const many = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => calls[i % calls.length]![1](s)))
    expect(many.every((r) => r.status === 'rejected' && r.reason instanceof RedisUnavailableError)).toBe(true)
  }

  it('stopped mid-run: every call rejects within the timeout; restarted: the same instance works again by itself', async () => {
    port = await freePort()
    server = await startRedis(port, password)
    const statuses: Array<[boolean, string]> = []
    // While Redis is down calls fail at once, whatever the timeout.
    const s = store({ url: `redis://:${password}@127.0.0.1:${port}`, onStatus: (up, detail) => statuses.push([up, detail]) })
    await s.ready(3000)
    expect((await s.admit(one('r', 5, HOUR))).allowed).toBe(true)
    expect(statuses.map(([up]) => up)).toEqual([true])

    await stopRedis(server)
    await expectAllRejectFast(s, 1000)
    await sleep(600) // several reconnect attempts fail meanwhile
    await expectAllRejectFast(s, 1000)
    // Logged once per outage, however many calls and reconnect attempts failed.
    expect(statuses.map(([up]) => up)).toEqual([true, false])
    expect(statuses[1]![1]).not.toContain(password)

    server = await startRedis(port, password)
    // No new store, no call to reconnect: the client finds the server again (backoff is at most ~2.5 s).
    const back = await eventually(() => s.admit(one('r', 5, HOUR)), 10_000)
    expect(back.allowed).toBe(true)
    expect(back.rates[0]!.remaining).toBe(4) // a new, empty server
    expect(statuses.map(([up]) => up)).toEqual([true, false, true])
    for (const [, call] of calls) await call(s)
  })

  it('reloads its scripts when Redis has forgotten them (NOSCRIPT)', async () => {
    if (!server || server.exitCode !== null) server = await startRedis((port ||= await freePort()), password)
    const s = store({ url: `redis://:${password}@127.0.0.1:${port}` })
    await s.ready(3000)
    const raw = createClient({ url: `redis://:${password}@127.0.0.1:${port}` })
    raw.on('error', () => {})
    await raw.connect()
    try {
      await raw.scriptFlush()
      expect(await raw.scriptExists([ADMIT.sha, SETTLE.sha, ADD_FIELDS.sha])).toEqual([0, 0, 0])
      expect((await s.admit(one('ns', 5, HOUR))).allowed).toBe(true)
      await s.settle({ rates: [{ key: 'ns', limit: 5, periodMs: HOUR, delta: -1 }], counters: [] })
      await s.addFields('ns-h', { n: 2 })
      expect(await s.readFields('ns-h')).toEqual({ n: 2 })
      expect(await raw.scriptExists([ADMIT.sha, SETTLE.sha, ADD_FIELDS.sha])).toEqual([1, 1, 1])
    } finally {
      await raw.close()
    }
  })

  it('paused (connected but silent): calls reject after the default 100 ms timeout; resumed: calls work again', async () => {
    if (!server || server.exitCode !== null) server = await startRedis((port ||= await freePort()), password)
    const statuses: boolean[] = []
    const s = new RedisStore({ url: `redis://:${password}@127.0.0.1:${port}`, onStatus: (up) => statuses.push(up) }) // the default timeout
    stores.push(s)
    await s.ready(3000)
    // (A busy machine may stall a call past 100 ms: retry until one answers.)
    expect(await eventually(() => s.put('p', 'before'), 5_000)).toBe('before')
    const before = statuses.length
    expect(statuses[before - 1]).toBe(true)
    process.kill(server.pid!, 'SIGSTOP')
    try {
      const err = await s.get('p').then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(RedisUnavailableError)
      expect((err as Error).message).toMatch(/no reply within 100 ms/)
      await expectAllRejectFast(s, 100)
    } finally {
      process.kill(server.pid!, 'SIGCONT')
    }
    expect(await eventually(() => s.get('p'), 5_000)).toBe('before')
    expect(statuses.slice(before)).toEqual([false, true])
  })
})
