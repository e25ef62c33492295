// Bytes that are not HTTP never reach the gateway: Node's parser refuses
// them (bad request lines and methods, bad header lines, oversized headers,
// broken chunked framing). The client still gets the gateway's error shape,
// not a bare text/plain 400 or 431, and no backend hears of it.
import { afterAll, beforeAll, expect, it } from 'vitest'
import fc from 'fast-check'
import { rawJunk, sendRaw, startFuzzTarget, violations, type FuzzTarget } from './hostile.ts'

let target: FuzzTarget
beforeAll(async () => {
  target = await startFuzzTarget()
})
afterAll(() => target?.close())

it('a 4xx with an OpenAI-shaped JSON error for every request Node itself refuses', async () => {
  await fc.assert(
    fc.asyncProperty(rawJunk, async ({ kind, bytes }) => {
      const a = await sendRaw(target.kortex.url, bytes)
      const what = `[${kind}] ${JSON.stringify(bytes.slice(0, 120))}${bytes.length > 120 ? `…(${bytes.length} bytes)` : ''}`
      expect(a.status, what).toBeGreaterThanOrEqual(400)
      expect(a.status, what).toBeLessThan(500)
      expect(violations({ kind, method: 'GET', path: '/', headers: {} }, a), what).toEqual([])
    }),
    { numRuns: 40 },
  )
  expect(await target.backendFailures()).toEqual({ failures: 0, open: [] })
}, 120_000)
