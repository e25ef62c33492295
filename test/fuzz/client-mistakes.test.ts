// Two client mistakes that once reached a backend: a body nested thousands
// of levels deep (re-serialising it overflowed the stack: a 502, counted
// against the backend, whose breaker then opened for every tenant), and an
// operation the route's backends cannot serve (a 503 that SDKs retry).
// Both are the client's: a 4xx before any attempt.
import { afterAll, beforeAll, it } from 'vitest'
import fc from 'fast-check'
import { deepNesting, startFuzzTarget, unservedOperation, type FuzzTarget } from './hostile.ts'
import { holdsFor } from './holds.ts'

let target: FuzzTarget
beforeAll(async () => {
  target = await startFuzzTarget()
})
afterAll(() => target?.close())

it('a body nested thousands of levels deep, in any field, on any route: a 4xx, and no failure counted against the backend', async () => {
  await fc.assert(fc.asyncProperty(deepNesting, (r) => holdsFor(target, r)), { numRuns: 40 })
}, 120_000)

it('an operation the route cannot serve (embeddings or completions on an Anthropic route): a 4xx that names the reason', async () => {
  await fc.assert(fc.asyncProperty(unservedOperation, (r) => holdsFor(target, r)), { numRuns: 4 })
}, 60_000)
