// The in-memory store keeps its plain values bounded: the oldest go first.
import { expect, it } from 'vitest'
import { MemoryStore } from '../../src/state/memory.ts'

it('past maxValues the oldest values are dropped, the newest kept', async () => {
  const s = new MemoryStore(Date.now, 100)
  for (let i = 0; i < 250; i++) await s.put(`req:${i}`, String(i), { ttlSeconds: 7 * 86_400 })
  expect(await s.get('req:0')).toBeUndefined()
  expect(await s.get('req:149')).toBeUndefined()
  expect(await s.get('req:150')).toBe('150')
  expect(await s.get('req:249')).toBe('249')
})

it('entries nobody reads again are swept as other writes go by, a few per write', async () => {
  let now = 1_700_000_000_000
  const s = new MemoryStore(() => now)
  for (let i = 0; i < 2_000; i++) await s.put(`req:${i}`, 'x', { ttlSeconds: 60 })
  for (let i = 0; i < 300; i++) await s.addFields(`exp:${i}`, { n: 1 }, 60)
  await s.put('kept', 'y', { ttlSeconds: 3600 })
  expect(s.size).toBe(2_301)
  now += 61_000 // all but `kept` have expired, and none is read again
  for (let i = 0; i < 600; i++) await s.admit({ rates: [{ key: `r:${i % 3}`, limit: 1e6, periodMs: 3_600_000, cost: 1 }], budgets: [] })
  // 600 admissions at 4 entries per map each: every expired value and hash is gone.
  expect(s.size).toBe(1 + 3)
  expect(await s.get('kept')).toBe('y')
})
