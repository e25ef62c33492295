// StateStore on Durable Objects, for Kortex on Cloudflare Workers. Keys are
// spread over `shards` objects (idFromName("<prefix><n>"), n from a hash of
// the key), so a key always lives in one object and no object carries the
// whole gateway's traffic (one object serves about 1,000 requests/s).
//
// At most one Worker→object call per admission: the limits of one scope (a
// route's request and token limits, say) live in one object, so an
// admission for them is one RPC to it. One that spans objects (a route's
// limit and an API key's, a team's or a budget) is one RPC too, admitAcross,
// to one of those objects, which coordinates: it takes its own part
// locally, asks the others itself (object-to-object RPC, in parallel) and,
// when any refuses, gives back what the others took (settle), so it never
// admits more than the limits — at worst a request racing with that
// give-back is refused for a few milliseconds. Settlements that span
// objects go the same way (settleAcross), after the response.
import type { Admission, AdmissionResult, Settlement, StateStore } from '../../src/state/store.ts'
import type { SharedHealth } from '../../src/resilience/health.ts'

/** What the Worker calls on one state object (KortexState's RPC methods). */
export interface StateStub {
  admit(a: Admission): Promise<AdmissionResult>
  settle(s: Settlement): Promise<void>
  /** To the object `shard` of `layout`: an admission that spans objects, its own part there, the others' from there; all or nothing. */
  admitAcross(a: Admission, shard: number, layout: Layout): Promise<AdmissionResult>
  /** To the object `shard` of `layout`: a settlement that spans objects, its own part there, the others' from there. */
  settleAcross(s: Settlement, shard: number, layout: Layout): Promise<void>
  counters(keys: string[]): Promise<number[]>
  addFields(key: string, deltas: Record<string, number>, ttlSeconds?: number): Promise<void>
  readFields(key: string): Promise<Record<string, number>>
  readHashes(keys: string[]): Promise<Array<Record<string, number>>>
  put(key: string, value: string, opts?: { ttlSeconds?: number; ifAbsent?: boolean }): Promise<string>
  get(key: string): Promise<string | undefined>
  tripBreaker(key: string, until: number): Promise<void>
  openBreakers(): Promise<Record<string, number>>
  reportHealth(states: Record<string, SharedHealth>): Promise<void>
  boards(): Promise<{ open: Record<string, number>; health: Record<string, SharedHealth> }>
}

/** The Durable Object namespace binding, as far as this store needs it. */
export interface StateNamespace {
  idFromName(name: string): unknown
  get(id: any): unknown
}

export interface DurableObjectStoreOptions {
  /** How many objects share the keys; default 16. Changing it moves keys (their state starts afresh). */
  shards?: number
  /** Hashes every request adds to (daily spend, experiment variants) are spread over this many objects; default 8. */
  spread?: number
  /** Object names are `${prefix}${n}`; default `kortex-state-`. */
  prefix?: string
  /**
   * Set by a state object coordinating an admission (ShardCoordinator): it
   * is shard `shard`, its part is done by calling `object` directly (no RPC
   * to itself), and spanning admissions fan out from here instead of being
   * handed to a coordinator again.
   */
  self?: { shard: number; object: LocalPart }
}

/** How keys are laid out over objects: sent with admitAcross, so the coordinator finds the same objects. */
export interface Layout {
  shards: number
  spread: number
  prefix: string
}

/** What a coordinating object does itself: its own admit and settle (KortexState's are synchronous). */
export interface LocalPart {
  admit(a: Admission): AdmissionResult | Promise<AdmissionResult>
  settle(s: Settlement): void | Promise<void>
}

type Part = { admit(a: Admission): Promise<AdmissionResult>; settle(s: Settlement): Promise<void> }

/**
 * What decides a key's object: a limit's scope without its unit or period
 * (`rl:route:ns/chat:rpm` and `rl:route:ns/chat:tpm` -> `route:ns/chat`;
 * `bg:team:ml:2026-11` -> `team:ml`, as `rl:team:ml:rpd`), so the request and
 * token limits and the budget of one scope are one object and one call.
 * Any other key is its own tag.
 */
export function shardTag(key: string): string {
  const m = /^(?:rl|bg):(.+):[^:]*$/.exec(key)
  return m ? m[1]! : key
}

/** FNV-1a, 32 bits, of the key's tag: a stable, cheap spread of keys over shards. */
export function shardOf(key: string, shards: number): number {
  const tag = shardTag(key)
  let h = 0x811c9dc5
  for (let i = 0; i < tag.length; i++) h = Math.imul(h ^ tag.charCodeAt(i), 0x01000193)
  return (h >>> 0) % shards
}

/**
 * Hashes that every request adds to: the day's spend, an experiment
 * variant's figures. One object each would take the whole gateway's
 * traffic, so each write goes to one of `spread` objects, and a read sums
 * them (exact: the fields are sums). Their TTLs are long (months), so a
 * part that is not written to for a while does not lapse before the rest.
 */
const SPREAD = /^(?:spend:|exp:.+:v:)/

export class DurableObjectStore implements StateStore {
  readonly #ns: StateNamespace
  readonly #shards: number
  readonly #spread: number
  readonly #prefix: string
  readonly #self: { shard: number; part: Part } | undefined
  /** Sent with admitAcross and settleAcross. */
  readonly layout: Layout
  /** Object ids are pure values: derive each once. Stubs are made per call (they belong to the request that makes them). */
  readonly #ids = new Map<number, unknown>()

  constructor(ns: StateNamespace, opts: DurableObjectStoreOptions = {}) {
    this.#ns = ns
    this.#shards = Math.max(1, Math.floor(opts.shards ?? 16))
    this.#spread = Math.max(1, Math.floor(opts.spread ?? 8))
    this.#prefix = opts.prefix ?? 'kortex-state-'
    this.layout = { shards: this.#shards, spread: this.#spread, prefix: this.#prefix }
    const self = opts.self
    // Async wrappers, but the object's own method still runs at the call, without awaiting anything first.
    this.#self = self && { shard: self.shard, part: { admit: async (a) => self.object.admit(a), settle: async (s) => self.object.settle(s) } }
  }


  /** The object that holds `key`. */
  stub(key: string): StateStub {
    return this.#stubAt(shardOf(key, this.#shards))
  }

  #stubAt(n: number): StateStub {
    let id = this.#ids.get(n)
    if (id === undefined) this.#ids.set(n, (id = this.#ns.idFromName(`${this.#prefix}${n}`)))
    return this.#ns.get(id) as StateStub
  }

  /** Where an admission's or settlement's part for object `n` goes: the coordinating object itself, or an RPC. */
  #partAt(n: number): Part {
    return this.#self?.shard === n ? this.#self.part : this.#stubAt(n)
  }

  /** Groups items by the shard of their key, keeping each one's index in the original list. */
  #group<T extends { key: string }>(items: T[], into: Map<number, { rates: number[]; budgets: number[] }>, kind: 'rates' | 'budgets') {
    items.forEach((it, i) => {
      const n = shardOf(it.key, this.#shards)
      let g = into.get(n)
      if (!g) into.set(n, (g = { rates: [], budgets: [] }))
      g[kind].push(i)
    })
  }

  async admit(a: Admission): Promise<AdmissionResult> {
    if (a.rates.length === 0 && a.budgets.length === 0) return { allowed: true, rates: [], budgets: [] }
    const groups = new Map<number, { rates: number[]; budgets: number[] }>()
    this.#group(a.rates, groups, 'rates')
    this.#group(a.budgets, groups, 'budgets')
    const first = groups.keys().next().value!
    if (groups.size === 1) return this.#partAt(first).admit(a)
    // Spanning objects, from the Worker: one call, to the first of them, which coordinates (the branch below, there).
    if (!this.#self) return this.#stubAt(first).admitAcross(a, first, this.layout)

    const parts = [...groups].map(([n, g]) => ({ n, g, sub: { rates: g.rates.map((i) => a.rates[i]!), budgets: g.budgets.map((i) => a.budgets[i]!) } }))
    const results = await Promise.all(parts.map((p) => this.#partAt(p.n).admit(p.sub)))
    const allowed = results.every((r) => r.allowed)
    const out: AdmissionResult = { allowed, rates: new Array(a.rates.length), budgets: new Array(a.budgets.length) }
    const giveBack: Promise<void>[] = []
    parts.forEach((p, j) => {
      const r = results[j]!
      if (!allowed && r.allowed) {
        // This object took its part; the admission as a whole is refused: give it back, and report it untouched.
        giveBack.push(
          this.#partAt(p.n).settle({
            rates: p.sub.rates.map((c) => ({ key: c.key, limit: c.limit, periodMs: c.periodMs, delta: -c.cost })),
            counters: p.sub.budgets.map((b) => ({ key: b.key, delta: -b.amount, ttlSeconds: b.ttlSeconds })),
          }),
        )
        p.g.rates.forEach((i, k) => {
          const s = r.rates[k]!
          const c = p.sub.rates[k]!
          const interval = c.periodMs / c.limit
          const resetMs = Math.max(0, s.resetMs - c.cost * interval)
          out.rates[i] = { ...s, remaining: Math.min(c.limit, s.remaining + c.cost), resetMs, retryAfterMs: 0 }
        })
        p.g.budgets.forEach((i, k) => (out.budgets[i] = { ...r.budgets[k]!, total: r.budgets[k]!.total - p.sub.budgets[k]!.amount }))
      } else {
        p.g.rates.forEach((i, k) => (out.rates[i] = r.rates[k]!))
        p.g.budgets.forEach((i, k) => (out.budgets[i] = r.budgets[k]!))
      }
    })
    await Promise.all(giveBack)
    return out
  }

  async settle(s: Settlement): Promise<void> {
    if (s.rates.length === 0 && s.counters.length === 0) return
    const by = new Map<number, Settlement>()
    const at = (key: string) => {
      const n = shardOf(key, this.#shards)
      let x = by.get(n)
      if (!x) by.set(n, (x = { rates: [], counters: [] }))
      return x
    }
    for (const r of s.rates) at(r.key).rates.push(r)
    for (const c of s.counters) at(c.key).counters.push(c)
    const first = by.keys().next().value!
    if (by.size === 1) return this.#partAt(first).settle(s)
    if (!this.#self) return this.#stubAt(first).settleAcross(s, first, this.layout)
    await Promise.all([...by].map(([n, part]) => this.#partAt(n).settle(part)))
  }

  async counters(keys: string[]): Promise<number[]> {
    if (keys.length === 0) return []
    const by = new Map<number, number[]>()
    keys.forEach((k, i) => {
      const n = shardOf(k, this.#shards)
      by.set(n, [...(by.get(n) ?? []), i])
    })
    const out = new Array<number>(keys.length)
    await Promise.all(
      [...by].map(async ([n, idx]) => {
        const vals = await this.#stubAt(n).counters(idx.map((i) => keys[i]!))
        idx.forEach((i, k) => (out[i] = vals[k]!))
      }),
    )
    return out
  }

  /** The objects a spread hash lives in (distinct), or undefined for a plain key. */
  #parts(key: string): number[] | undefined {
    if (this.#spread === 1 || !SPREAD.test(key)) return undefined
    return [...new Set(Array.from({ length: this.#spread }, (_, i) => shardOf(`${key}#${i}`, this.#shards)))]
  }

  addFields(key: string, deltas: Record<string, number>, ttlSeconds?: number): Promise<void> {
    if (this.#spread > 1 && SPREAD.test(key)) {
      const i = Math.floor(Math.random() * this.#spread)
      return this.#stubAt(shardOf(`${key}#${i}`, this.#shards)).addFields(key, deltas, ttlSeconds)
    }
    return this.stub(key).addFields(key, deltas, ttlSeconds)
  }

  async readFields(key: string): Promise<Record<string, number>> {
    const parts = this.#parts(key)
    if (!parts) return this.stub(key).readFields(key)
    const all = await Promise.all(parts.map((n) => this.#stubAt(n).readFields(key)))
    const out: Record<string, number> = {}
    for (const h of all) for (const f in h) out[f] = (out[f] ?? 0) + h[f]!
    return out
  }

  put(key: string, value: string, opts?: { ttlSeconds?: number; ifAbsent?: boolean }): Promise<string> {
    return this.stub(key).put(key, value, opts)
  }

  get(key: string): Promise<string | undefined> {
    return this.stub(key).get(key)
  }

  /** Shared breakers (the core publishes trips and pulls the board in the background): one object holds the board. */
  tripBreaker(key: string, untilMs: number): Promise<void> {
    return this.stub(BREAKERS).tripBreaker(key, untilMs)
  }

  /**
   * Where health-check results go when they come with the board (the Worker's
   * HealthMonitor.adopt): the same background call then brings both, so
   * sharing health costs no extra call.
   */
  onHealth: ((states: Record<string, SharedHealth>) => void) | undefined

  async openBreakers(): Promise<Record<string, number>> {
    if (!this.onHealth) return this.stub(BREAKERS).openBreakers()
    const b = await this.stub(BREAKERS).boards()
    this.onHealth(b.health)
    return b.open
  }

  /** Health-check results (the Cron's), kept with the breaker board for every isolate. */
  reportHealth(states: Record<string, SharedHealth>): Promise<void> {
    return this.stub(BREAKERS).reportHealth(states)
  }

  /** Every backend's latest shared health-check result. */
  async readHealth(): Promise<Record<string, SharedHealth>> {
    return (await this.stub(BREAKERS).boards()).health
  }
}

const BREAKERS = 'kortex:breakers'

/**
 * The coordinating side of admitAcross and settleAcross, in a state object
 * (KortexState; the call-counting test's fake objects too): a
 * DurableObjectStore over the same layout in which this object is shard
 * `shard` and does its part itself, while the other objects are reached
 * through `ns`, the object's own binding of the namespace.
 */
export class ShardCoordinator {
  readonly #ns: () => StateNamespace
  readonly #self: LocalPart
  readonly #stores = new Map<string, DurableObjectStore>()

  constructor(ns: () => StateNamespace, self: LocalPart) {
    this.#ns = ns
    this.#self = self
  }

  #store(shard: number, l: Layout): DurableObjectStore {
    const k = `${l.shards}|${l.spread}|${shard}|${l.prefix}`
    let s = this.#stores.get(k)
    if (!s) this.#stores.set(k, (s = new DurableObjectStore(this.#ns(), { ...l, self: { shard, object: this.#self } })))
    return s
  }

  admitAcross(a: Admission, shard: number, layout: Layout): Promise<AdmissionResult> {
    return this.#store(shard, layout).admit(a)
  }

  settleAcross(s: Settlement, shard: number, layout: Layout): Promise<void> {
    return this.#store(shard, layout).settle(s)
  }
}
