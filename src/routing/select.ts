// Picking one backend among a rule's candidates: by weight, or by a
// strategy that reads the fleet's live state (cost, latency, in flight).
import type { Backend, WeightedRef } from '../config/compile.ts'
import type { Strategy } from '../config/compile-route.ts'
import type { Fleet } from '../resilience/fleet.ts'
import { maxCostNano } from '../usage/cost.ts'

/** Share of latency-strategy picks that explore instead of exploit, so a recovered backend gets traffic again. */
export const EXPLORE = 0.1

export interface Candidate extends WeightedRef {
  backend: Backend
}

export interface SelectContext {
  fleet: Fleet
  random: () => number
  /** Prompt tokens (estimate) and the most the answer may take; for `cost`. */
  promptTokens?: () => number
  maxOutputTokens?: number
}

export function pickWeighted<T extends WeightedRef>(refs: readonly T[], random: () => number = Math.random): T | undefined {
  let total = 0
  for (const r of refs) if (r.weight > 0) total += r.weight
  if (total <= 0) return undefined
  let x = random() * total
  for (const r of refs) {
    if (r.weight <= 0) continue
    x -= r.weight
    if (x < 0) return r
  }
  return refs.findLast((r) => r.weight > 0)
}

/** The candidates with the lowest score, then by weight among the ties. */
function lowest(cands: readonly Candidate[], score: (c: Candidate) => number, random: () => number): Candidate | undefined {
  let min = Infinity
  let ties: Candidate[] = []
  for (const c of cands) {
    const s = score(c)
    if (s < min) (min = s), (ties = [c])
    else if (s === min) ties.push(c)
  }
  return pickWeighted(ties, random) ?? ties[0]
}

export function select(strategy: Strategy, cands: readonly Candidate[], ctx: SelectContext): Candidate | undefined {
  // Weight 0 drains a backend whatever the strategy.
  const live = cands.filter((c) => c.weight > 0)
  if (live.length <= 1) return live[0]
  switch (strategy) {
    case 'weighted':
      return pickWeighted(live, ctx.random)
    case 'least-busy':
      return lowest(live, (c) => ctx.fleet.live(c.backend).inflight, ctx.random)
    case 'latency': {
      const unknown = live.filter((c) => ctx.fleet.latency(c.backend) === undefined)
      if (unknown.length) return pickWeighted(unknown, ctx.random)
      if (ctx.random() < EXPLORE) return pickWeighted(live, ctx.random)
      return lowest(live, (c) => ctx.fleet.latency(c.backend)!, ctx.random)
    }
    case 'cost': {
      const prompt = ctx.promptTokens?.() ?? 0
      const out = ctx.maxOutputTokens ?? 0
      const fits = live.filter((c) => !c.backend.contextWindow || c.backend.contextWindow >= prompt + out)
      // A backend without prices counts as free (own hardware).
      return lowest(fits.length ? fits : live, (c) => maxCostNano(c.backend, prompt, out || 256), ctx.random)
    }
  }
}
