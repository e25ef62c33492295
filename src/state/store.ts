// The StateStore seam: state that many gateway instances share. In memory
// for one process (tests, a single Node server); Redis and Durable Objects
// implement the same operations for fleets. Each operation is one round
// trip, and the hot path never waits on one unless a feature needs it.
// Time is the store's own (Redis: its server clock), so replicas with
// drifting clocks still agree.

/** One rate limit to pass: `limit` units per `periodMs`, of which this request takes `cost`. */
export interface RateCheck {
  key: string
  limit: number
  periodMs: number
  cost: number
}

export interface RateState {
  key: string
  allowed: boolean
  limit: number
  /** Units still available right after this decision. */
  remaining: number
  /** Until the limit is wholly available again, ms. */
  resetMs: number
  /** When refused: until this cost would be admitted, ms (Infinity when cost > limit). 0 when allowed. */
  retryAfterMs: number
}

/** A budget to stay within: reserve `amount` (integer units) on a counter capped at `limit`. */
export interface BudgetCheck {
  key: string
  amount: number
  limit: number
  ttlSeconds: number
}

export interface BudgetState {
  key: string
  allowed: boolean
  /** The counter after this decision (unchanged when refused). */
  total: number
  limit: number
}

export interface Admission {
  rates: RateCheck[]
  budgets: BudgetCheck[]
}

export interface AdmissionResult {
  /** Every rate and budget check passed, and all of them were taken; else none was. */
  allowed: boolean
  rates: RateState[]
  budgets: BudgetState[]
}

export interface Settlement {
  /** Units to give back (negative) or take (positive) after the fact; never refused. */
  rates: Array<{ key: string; limit: number; periodMs: number; delta: number }>
  /** Integer units added to counters (negative releases a reservation). */
  counters: Array<{ key: string; delta: number; ttlSeconds: number }>
}

export interface StateStore {
  /**
   * Rate limits (GCRA: no fixed-window boundary bursts; a full `limit` may
   * burst at once, then it refills evenly over `periodMs`) and budget
   * reservations, decided together and atomically: all pass and are taken,
   * or nothing is taken.
   */
  admit(a: Admission): Promise<AdmissionResult>
  /** Adjusts rates and counters after the response: token limits to actual usage, budgets to actual cost. */
  settle(s: Settlement): Promise<void>
  /** Current values of counters (0 when absent). */
  counters(keys: string[]): Promise<number[]>
  /** Adds each delta to its field of the hash at `key` (creating both) and sets the hash's expiry. */
  addFields(key: string, deltas: Record<string, number>, ttlSeconds?: number): Promise<void>
  /** Every field of the hash at `key`; `{}` when there is none. */
  readFields(key: string): Promise<Record<string, number>>
  /** Stores `value`; with `ifAbsent` an existing value stays. Resolves to the value in force. */
  put(key: string, value: string, opts?: { ttlSeconds?: number; ifAbsent?: boolean }): Promise<string>
  get(key: string): Promise<string | undefined>
  /**
   * Shared circuit breakers (optional: a store without them keeps breakers
   * per instance). A backend opened somewhere until `untilMs`; the latest trip wins.
   */
  tripBreaker?(key: string, untilMs: number): Promise<void>
  /** Backends some instance opened whose trip has not run out: key -> open until (ms). */
  openBreakers?(): Promise<Record<string, number>>
}

/** The GCRA decision for one check, given the stored theoretical arrival time (or undefined). Shared by every store. */
export function gcra(tat: number | undefined, now: number, c: Pick<RateCheck, 'limit' | 'periodMs' | 'cost'>): { state: Omit<RateState, 'key'>; tat: number } {
  const interval = c.periodMs / c.limit
  const base = Math.max(tat ?? now, now)
  const next = base + c.cost * interval
  const allowed = c.cost <= c.limit && next - now <= c.periodMs
  const held = allowed ? next : base
  return {
    tat: held,
    state: {
      allowed,
      limit: c.limit,
      // Epoch-ms TATs carry float error of a few ulps of `base`; in units that is more than 1e-9 when the interval is short.
      remaining: Math.max(0, Math.floor((c.periodMs - (held - now)) / interval + Math.max(1e-9, (8 * Number.EPSILON * base) / interval))),
      resetMs: Math.max(0, held - now),
      retryAfterMs: allowed ? 0 : c.cost > c.limit ? Infinity : next - now - c.periodMs,
    },
  }
}
