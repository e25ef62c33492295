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
