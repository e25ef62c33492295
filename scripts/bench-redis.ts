// Round-trip latency of RedisStore operations against the Redis at $REDIS_URL
// (default 127.0.0.1:6379): sequential calls, so each figure is one full
// round trip as a request sees it. Keys go under a throwaway prefix and expire.
//   node --import tsx scripts/bench-redis.ts [calls]
import { RedisStore } from '../adapters/redis/store.ts'

const calls = Number(process.argv[2] ?? 2000)
const store = new RedisStore({ prefix: `kortex-bench:${process.pid}:`, timeoutMs: 1000 })
await store.ready(2000)

async function measure(name: string, fn: (i: number) => Promise<unknown>) {
  for (let i = 0; i < 200; i++) await fn(i) // warm up
  const ms: number[] = []
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now()
    await fn(i)
    ms.push(performance.now() - t0)
  }
  ms.sort((a, b) => a - b)
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]!.toFixed(3)
  console.log(`${name.padEnd(44)} median ${at(0.5)} ms   p90 ${at(0.9)} ms   p99 ${at(0.99)} ms   (${calls} calls)`)
}

const HOUR = 3_600_000
await measure('admit: 1 rate', () => store.admit({ rates: [{ key: 'r1', limit: 1e9, periodMs: HOUR, cost: 1 }], budgets: [] }))
await measure('admit: 3 rates + 1 budget', () =>
  store.admit({
    rates: [
      { key: 'route', limit: 1e9, periodMs: HOUR, cost: 1 },
      { key: 'key', limit: 1e9, periodMs: HOUR, cost: 1 },
      { key: 'tokens', limit: 1e12, periodMs: HOUR, cost: 1200 },
    ],
    budgets: [{ key: 'budget', amount: 5, limit: 1e15, ttlSeconds: 3600 }],
  }),
)
await measure('settle: 1 rate + 1 counter', () => store.settle({ rates: [{ key: 'tokens', limit: 1e12, periodMs: HOUR, delta: -200 }], counters: [{ key: 'budget', delta: -1, ttlSeconds: 3600 }] }))
await measure('counters: 2 keys (MGET)', () => store.counters(['budget', 'other']))
await measure('addFields: 3 fields', () => store.addFields('agg', { n: 1, sum: 12.5, sq: 156.25 }, 3600))
await measure('get', () => store.get('absent'))
await store.close()
