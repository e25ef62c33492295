// The StateStore seam: state that many gateway instances share. In memory
// for one process (tests, a single Node server); Redis and Durable Objects
// implement the same operations for fleets. Each operation is one round
// trip, and the hot path never waits on one unless a feature needs it.
export interface StateStore {
  /** Adds each delta to its field of the hash at `key` (creating both) and sets the hash's expiry. */
  addFields(key: string, deltas: Record<string, number>, ttlSeconds?: number): Promise<void>
  /** Every field of the hash at `key`; `{}` when there is none. */
  readFields(key: string): Promise<Record<string, number>>
  /** Stores `value`; with `ifAbsent` an existing value stays. Resolves to the value in force. */
  put(key: string, value: string, opts?: { ttlSeconds?: number; ifAbsent?: boolean }): Promise<string>
  get(key: string): Promise<string | undefined>
}
