// Hostile and malformed requests at the real Node gateway (fast-check): a
// client's mistake is the client's — a 4xx with an OpenAI-shaped error, in
// time, and never a failure counted against the backend that other tenants
// share. Bounded so CI stays fast; `npm run fuzz` runs the same for long.
import { afterAll, beforeAll, it } from 'vitest'
import fc from 'fast-check'
import { hostileRequest, startFuzzTarget, type FuzzTarget } from './hostile.ts'
import { holdsFor } from './holds.ts'

let target: FuzzTarget
beforeAll(async () => {
  target = await startFuzzTarget()
})
afterAll(() => target?.close())

it('malformed JSON, wrong types, huge values, unicode junk, odd headers, content types, models, keys, methods and paths: a 4xx (or an answer), never a 5xx or a backend failure', async () => {
  await fc.assert(fc.asyncProperty(hostileRequest, (r) => holdsFor(target, r)), { numRuns: 300 })
}, 180_000)
