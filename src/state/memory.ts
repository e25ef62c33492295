// The in-memory StateStore: exact for one process, and only for it. Limits
// and aggregates kept here are per instance; fleets use Redis or Durable
// Objects.
import { gcra, type Admission, type AdmissionResult, type Settlement, type StateStore } from './store.ts'

interface Entry<T> {
  value: T
  expires: number // ms; Infinity when it never expires
}

/** Entries of each map looked at per write: faster than any caller creates them. */
const SWEEP_STEP = 4
/** The sweep runs once every this many writes. */
const SWEEP_EVERY = 8
/** One settled promise for the writes that finish at once. */
const DONE: Promise<void> = Promise.resolve()

export class MemoryStore implements StateStore {
  readonly #hashes = new Map<string, Entry<Map<string, number>>>()
  readonly #values = new Map<string, Entry<string>>()
  /** Rate limits' theoretical arrival times and budget counters. */
  readonly #numbers = new Map<string, Entry<number>>()
  readonly #now: () => number

  /**
   * `maxValues` bounds the plain values (an experiment request's assignment,
   * kept for feedback): past it the oldest go first, so a busy instance keeps
   * the most recent ones rather than every one of the last seven days.
   */
  constructor(
    now: () => number = Date.now,
    private readonly maxValues = 200_000,
  ) {
    this.#now = now
  }

  #live<T>(map: Map<string, Entry<T>>, key: string, now?: number): Entry<T> | undefined {
    const e = map.get(key)
    if (e && e.expires <= (now ?? this.#now())) {
      map.delete(key)
      return undefined
    }
    return e
  }

  // Entries nobody reads again (a request's experiment assignment) must not pile up.
  // Each write looks at the next few entries of each map, a cursor going round it,
  // so the cost per write stays flat however full the store is (a whole pass every
  // thousand writes cost ~15 µs a write at 200,000 values).
  #oldest: Iterator<string> | undefined
  readonly #cursors = new Map<Map<string, Entry<unknown>>, Iterator<[string, Entry<unknown>]>>()

  #writes = 0

  #sweep() {
    // Every SWEEP_EVERY writes, SWEEP_EVERY * SWEEP_STEP entries of each map: as many as one
    // step per write, but with fewer iterator restarts on small maps (the day's spend hash).
    if (++this.#writes % SWEEP_EVERY !== 0) return
    const now = this.#now()
    this.#sweepMap(this.#hashes as Map<string, Entry<unknown>>, now)
    this.#sweepMap(this.#values as Map<string, Entry<unknown>>, now)
    this.#sweepMap(this.#numbers as Map<string, Entry<unknown>>, now)
  }

  #sweepMap(map: Map<string, Entry<unknown>>, now: number) {
    const it = this.#cursors.get(map)
    for (let i = 0; i < SWEEP_EVERY * SWEEP_STEP; i++) {
      const r = it?.next()
      if (!r || r.done) {
        // Round again from the oldest, next time.
        this.#cursors.set(map, map.entries())
        return
      }
      if (r.value[1].expires <= now) map.delete(r.value[0])
    }
  }

  /** How many entries the store holds, expired ones not yet swept included. */
  get size(): number {
    return this.#hashes.size + this.#values.size + this.#numbers.size
  }

  #expiry(ttlSeconds?: number, now?: number) {
    return ttlSeconds === undefined ? Infinity : (now ?? this.#now()) + ttlSeconds * 1000
  }

  async admit(a: Admission): Promise<AdmissionResult> {
    this.#sweep()
    const now = this.#now()
    const tats: Array<number | undefined> = []
    const decided: ReturnType<typeof gcra>[] = []
    let allowed = true
    for (const c of a.rates) {
      const tat = this.#live(this.#numbers, c.key)?.value
      const d = gcra(tat, now, c)
      tats.push(tat)
      decided.push(d)
      if (!d.state.allowed) allowed = false
    }
    const budgets = a.budgets.map((b) => {
      const e = this.#live(this.#numbers, b.key)
      const total = e?.value ?? 0
      if (total + b.amount > b.limit) allowed = false
      return { b, total, expires: e?.expires }
    })
    if (allowed) {
      a.rates.forEach((c, i) => this.#put(c.key, decided[i]!.tat, now + c.periodMs + 1000))
      // A budget counter keeps the expiry it was created with (as in settle), so its period ends on time however busy it is.
      for (const { b, total, expires } of budgets) this.#put(b.key, total + b.amount, expires ?? now + b.ttlSeconds * 1000)
    }
    return {
      allowed,
      // Refused: each check says whether it passed on its own, with what is left untouched.
      rates: a.rates.map((c, i) => {
        const d = decided[i]!.state
        const state = allowed || !d.allowed ? d : { ...gcra(tats[i], now, { ...c, cost: 0 }).state, allowed: true }
        return { key: c.key, ...state }
      }),
      budgets: budgets.map(({ b, total }) => ({ key: b.key, allowed: total + b.amount <= b.limit, total: allowed ? total + b.amount : total, limit: b.limit })),
    }
  }

  /** A number kept until `expires`, its entry reused when there is one. */
  #put(key: string, value: number, expires: number): void {
    const e = this.#numbers.get(key)
    if (e) {
      e.value = value
      e.expires = expires
    } else this.#numbers.set(key, { value, expires })
  }

  async settle(s: Settlement): Promise<void> {
    const now = this.#now()
    for (const r of s.rates) {
      const e = this.#live(this.#numbers, r.key)
      const tat = Math.max(e?.value ?? now, now) + (r.delta * r.periodMs) / r.limit
      // Taking more than the limit after the fact puts the TAT beyond one period: keep the key until then.
      if (tat > now) this.#put(r.key, tat, Math.max(tat, now + r.periodMs) + 1000)
      else this.#numbers.delete(r.key)
    }
    for (const c of s.counters) {
      const e = this.#live(this.#numbers, c.key)
      this.#put(c.key, (e?.value ?? 0) + c.delta, e?.expires ?? now + c.ttlSeconds * 1000)
    }
  }

  async counters(keys: string[]): Promise<number[]> {
    return keys.map((k) => this.#live(this.#numbers, k)?.value ?? 0)
  }

  // Not async: every proxied request adds to the spend hash, and nothing here waits.
  addFields(key: string, deltas: Record<string, number>, ttlSeconds?: number): Promise<void> {
    this.#sweep()
    const now = this.#now()
    let e = this.#live(this.#hashes, key, now)
    if (!e) this.#hashes.set(key, (e = { value: new Map(), expires: Infinity }))
    const fields = e.value
    for (const f in deltas) fields.set(f, (fields.get(f) ?? 0) + deltas[f]!)
    if (ttlSeconds !== undefined) e.expires = this.#expiry(ttlSeconds, now)
    return DONE
  }

  async readFields(key: string): Promise<Record<string, number>> {
    return Object.fromEntries(this.#live(this.#hashes, key)?.value ?? [])
  }

  async put(key: string, value: string, opts: { ttlSeconds?: number; ifAbsent?: boolean } = {}): Promise<string> {
    const e = this.#live(this.#values, key)
    if (e && opts.ifAbsent) return e.value
    this.#sweep()
    this.#values.delete(key) // re-inserted last: Map order is age order
    this.#values.set(key, { value, expires: this.#expiry(opts.ttlSeconds) })
    // The oldest go first, through one iterator kept between calls: a fresh one
    // would step over every entry deleted before (~20 µs a put at the bound).
    while (this.#values.size > this.maxValues) {
      const r = (this.#oldest ??= this.#values.keys()).next()
      if (r.done) this.#oldest = undefined
      else this.#values.delete(r.value)
    }
    return value
  }

  readonly #trips = new Map<string, number>()

  async tripBreaker(key: string, untilMs: number): Promise<void> {
    if ((this.#trips.get(key) ?? 0) < untilMs) this.#trips.set(key, untilMs)
  }

  async openBreakers(): Promise<Record<string, number>> {
    const now = this.#now()
    const out: Record<string, number> = {}
    for (const [k, until] of this.#trips) if (until > now) out[k] = until
    else this.#trips.delete(k)
    return out
  }

  async get(key: string): Promise<string | undefined> {
    return this.#live(this.#values, key)?.value
  }
}
