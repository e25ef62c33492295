// Values in the Durable Object store (stored responses, assignments) past
// what one SQLite row of a Durable Object takes (2 MB): they come back whole,
// to the character, however they are cut into rows; a shorter value written
// over a long one leaves nothing of it behind; a long one expires as a whole.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDoStores, type DoStores } from './cloudflare-store.ts'

let dos: DoStores
beforeAll(async () => {
  dos = await startDoStores()
}, 60_000)
afterAll(async () => {
  await dos?.close()
})

// 3-byte (UTF-8) characters and surrogate pairs, so pieces are long in bytes (the 'aaa' puts a boundary of 512 Ki units inside a pair).
const long = (n: number) => 'aaa' + Array.from({ length: n }, (_, i) => (i % 3 === 0 ? '😀' : i % 3 === 1 ? '€' : 'a')).join('')

describe('Durable Object store: long values', () => {
  it('a value of several MB comes back exactly as put, with ttl and ifAbsent', async () => {
    const store = dos.store('long-a-')
    const v = long(1_500_000) // ~2M UTF-16 units, ~4 MB in UTF-8
    expect(await store.put('resp:big', v, { ttlSeconds: 3600 })).toBe(v)
    const got = await store.get('resp:big')
    expect(got?.length).toBe(v.length)
    expect(got === v).toBe(true)
    expect((await store.put('resp:big', 'other', { ifAbsent: true })) === v).toBe(true)
  })

  it('a short value over a long one is just the short one; a long one expires as a whole', async () => {
    const store = dos.store('long-b-')
    await dos.setClock('long-b-', 1_000_000)
    await store.put('k', long(900_000), { ttlSeconds: 60 })
    await store.put('k', 'short', { ttlSeconds: 60 })
    expect(await store.get('k')).toBe('short')
    await store.put('k', long(900_000), { ttlSeconds: 60 })
    await dos.setClock('long-b-', 1_000_000 + 61_000)
    expect(await store.get('k')).toBeUndefined()
    await store.put('k', 'again')
    expect(await store.get('k')).toBe('again')
  })
})
