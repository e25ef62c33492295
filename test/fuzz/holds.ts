// The fuzz tests' one check of a request, as vitest assertions (scripts/fuzz.ts tallies instead).
import { expect } from 'vitest'
import { describeRequest, violations, type FuzzTarget, type Hostile } from './hostile.ts'

/**
 * Sends `r`: the answer breaks no rule, and this request counted no failure against a
 * backend (compared before and after, so fast-check's shrinking finds the request that did).
 */
export async function holdsFor(target: FuzzTarget, r: Hostile): Promise<void> {
  const before = await target.backendFailures()
  const a = await target.send(r)
  expect(violations(r, a), describeRequest(r)).toEqual([])
  expect(await target.backendFailures(), `backend failures after ${describeRequest(r)}`).toEqual(before)
  target.upstream.requests.length = 0
  target.anthropic.requests.length = 0
}
