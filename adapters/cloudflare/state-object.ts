// The Durable Object that holds Kortex's shared state on Cloudflare: rate-limit
// windows (GCRA theoretical arrival times), token reservations, budget
// counters, experiment aggregates (hashes), assignments, shared breaker
// trips and health-check results (values). SQLite-backed, called through RPC methods; each method runs
// without awaiting anything, so the object's single thread makes it atomic.
// Many objects share the keys (see do-store.ts: a key always lives in the same
// one, chosen by hashing it), so no single object becomes a hot spot. An
// admission whose keys span objects comes to one of them (admitAcross),
// which does its part here and asks the others through its own binding of
// the namespace (KORTEX_STATE), so the Worker makes one call either way.
//
// Time is the object's own clock (Date.now() at the start of the call), so
// every isolate that calls it agrees. Tests may pin it (setTestClock), only
// when the KORTEX_TEST_CLOCK binding is "1".
import { DurableObject, type SqlStorage } from 'cloudflare:workers'
import { gcra, type Admission, type AdmissionResult, type RateState, type Settlement } from '../../src/state/store.ts'
import type { SharedHealth } from '../../src/resilience/health.ts'
import { ShardCoordinator, type Layout, type StateNamespace } from './do-store.ts'

/** Expired rows are swept every this many writes. */
const SWEEP_EVERY = 1000

/**
 * A Durable Object's SQLite refuses a string or row over 2 MB, and a stored
 * response (a conversation with an image, say) passes that; Node's and
 * Redis's stores take it. So a value is kept in pieces of at most this many
 * UTF-16 units (at most 3 bytes each in UTF-8): the first in `val`, the rest
 * in `valp`.
 */
const PIECE = 512 * 1024

/** `s` cut into pieces of about PIECE units, never between the halves of a surrogate pair. */
function pieces(s: string): string[] {
  const out: string[] = []
  for (let i = 0; i < s.length; ) {
    let end = Math.min(i + PIECE, s.length)
    const c = s.charCodeAt(end - 1)
    if (end < s.length && c >= 0xd800 && c <= 0xdbff) end--
    out.push(s.slice(i, end))
    i = end
  }
  return out.length ? out : ['']
}

type Num = { v: number; exp: number | null }

export class KortexState extends DurableObject {
  readonly #sql: SqlStorage
  #writes = 0
  /** A pinned clock (tests only), epoch ms. */
  #testClock: number | undefined
  /** Admissions and settlements that span objects, coordinated from here. */
  readonly #across = new ShardCoordinator(() => {
    const ns = (this.env as { KORTEX_STATE?: StateNamespace } | undefined)?.KORTEX_STATE
    if (!ns) throw new Error('KortexState coordinates across objects through its KORTEX_STATE binding, which is missing')
    return ns
  }, this)

  #now(): number {
    return this.#testClock ?? Date.now()
  }

  /** Pins this object's clock, so a behaviour suite runs without sleeping. Refused unless KORTEX_TEST_CLOCK is "1". */
  setTestClock(ms: number): void {
    if ((this.env as Record<string, unknown> | undefined)?.KORTEX_TEST_CLOCK !== '1') throw new Error('setTestClock needs the KORTEX_TEST_CLOCK binding')
    this.#testClock = ms
  }

  constructor(ctx: ConstructorParameters<typeof DurableObject>[0], env: unknown) {
    super(ctx, env)
    this.#sql = ctx.storage.sql
    // exp: epoch ms after which the row is gone; NULL for never.
    this.#sql.exec('CREATE TABLE IF NOT EXISTS num (k TEXT PRIMARY KEY, v REAL NOT NULL, exp REAL)')
    this.#sql.exec('CREATE TABLE IF NOT EXISTS val (k TEXT PRIMARY KEY, v TEXT NOT NULL, exp REAL)')
    // A long value's further pieces (i from 1), its first being val.v; they live and go with the val row.
    this.#sql.exec('CREATE TABLE IF NOT EXISTS valp (k TEXT NOT NULL, i INTEGER NOT NULL, v TEXT NOT NULL, PRIMARY KEY (k, i))')
    this.#sql.exec('CREATE TABLE IF NOT EXISTS hf (k TEXT NOT NULL, f TEXT NOT NULL, v REAL NOT NULL, PRIMARY KEY (k, f))')
    this.#sql.exec('CREATE TABLE IF NOT EXISTS hx (k TEXT PRIMARY KEY, exp REAL)')
    this.#sql.exec('CREATE TABLE IF NOT EXISTS brk (k TEXT PRIMARY KEY, until REAL NOT NULL)')
    // at: the probe's time (epoch ms); v: SharedHealth as JSON.
    this.#sql.exec('CREATE TABLE IF NOT EXISTS hlth (k TEXT PRIMARY KEY, at REAL NOT NULL, v TEXT NOT NULL)')
  }

  /** Health-check results from the isolate a Cron ran in: per backend key, the newest probe wins. */
  reportHealth(states: Record<string, SharedHealth>): void {
    for (const k in states) {
      const s = states[k]!
      this.#sql.exec('INSERT INTO hlth (k, at, v) VALUES (?, ?, ?) ON CONFLICT (k) DO UPDATE SET at = excluded.at, v = excluded.v WHERE excluded.at >= at', k, s.lastCheck, JSON.stringify(s))
    }
  }

  /** The breaker board and the health results together: one call for an isolate's background refresh. */
  boards(): { open: Record<string, number>; health: Record<string, SharedHealth> } {
    const now = this.#now()
    // A result a day old is nobody's any more (the backend left the config, or the Cron stopped).
    this.#sql.exec('DELETE FROM hlth WHERE at <= ?', now - 86_400_000)
    const health: Record<string, SharedHealth> = {}
    for (const r of this.#sql.exec<{ k: string; v: string }>('SELECT k, v FROM hlth')) health[r.k] = JSON.parse(r.v) as SharedHealth
    return { open: this.openBreakers(), health }
  }

  /** A breaker opened somewhere until `until` (epoch ms); the latest trip wins. */
  tripBreaker(key: string, until: number): void {
    this.#sql.exec('INSERT INTO brk (k, until) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET until = max(until, excluded.until)', key, until)
  }

  /** Breakers some isolate holds open now: backend key -> open until (epoch ms). */
  openBreakers(): Record<string, number> {
    const now = this.#now()
    this.#sql.exec('DELETE FROM brk WHERE until <= ?', now)
    const out: Record<string, number> = {}
    for (const r of this.#sql.exec<{ k: string; until: number }>('SELECT k, until FROM brk')) out[r.k] = r.until
    return out
  }

  #num(k: string, now: number): Num | undefined {
    const r = this.#sql.exec<Num>('SELECT v, exp FROM num WHERE k = ?', k).toArray()[0]
    if (!r) return undefined
    if (r.exp !== null && r.exp <= now) {
      this.#sql.exec('DELETE FROM num WHERE k = ?', k)
      return undefined
    }
    return r
  }

  #setNum(k: string, v: number, exp: number | null) {
    this.#sql.exec('INSERT OR REPLACE INTO num (k, v, exp) VALUES (?, ?, ?)', k, v, exp)
  }

  #sweep(now: number) {
    if (++this.#writes % SWEEP_EVERY !== 0) return
    for (const t of ['num', 'val', 'hx']) this.#sql.exec(`DELETE FROM ${t} WHERE exp IS NOT NULL AND exp <= ?`, now)
    this.#sql.exec('DELETE FROM hf WHERE k NOT IN (SELECT k FROM hx)')
    this.#sql.exec('DELETE FROM valp WHERE k NOT IN (SELECT k FROM val)')
  }

  admit(a: Admission): AdmissionResult {
    const now = this.#now()
    this.#sweep(now)
    const rates = a.rates.map((c) => ({ c, tat: this.#num(c.key, now)?.v }))
    const budgets = a.budgets.map((b) => {
      const e = this.#num(b.key, now)
      return { b, total: e?.v ?? 0, exp: e ? e.exp : undefined }
    })
    const decided = rates.map(({ c, tat }) => gcra(tat, now, c))
    const allowed = decided.every((d) => d.state.allowed) && budgets.every(({ b, total }) => total + b.amount <= b.limit)
    if (allowed) {
      rates.forEach(({ c }, i) => this.#setNum(c.key, decided[i]!.tat, now + c.periodMs + 1000))
      // A budget counter keeps the expiry it was created with, so its period ends on time however busy it is.
      for (const { b, total, exp } of budgets) this.#setNum(b.key, total + b.amount, exp === undefined ? now + b.ttlSeconds * 1000 : exp)
    }
    return {
      allowed,
      rates: rates.map(({ c, tat }, i): RateState => ({ key: c.key, ...(allowed || !decided[i]!.state.allowed ? decided[i]!.state : { ...gcra(tat, now, { ...c, cost: 0 }).state, allowed: true }) })),
      budgets: budgets.map(({ b, total }) => ({ key: b.key, allowed: total + b.amount <= b.limit, total: allowed ? total + b.amount : total, limit: b.limit })),
    }
  }

  /** An admission whose keys span objects, this one being shard `shard` of `layout`: all or nothing, one call from the Worker. */
  admitAcross(a: Admission, shard: number, layout: Layout): Promise<AdmissionResult> {
    this.#sameObject(shard, layout)
    return this.#across.admitAcross(a, shard, layout)
  }

  /** A settlement whose keys span objects (after the response): its part here, the others' from here. */
  settleAcross(s: Settlement, shard: number, layout: Layout): Promise<void> {
    this.#sameObject(shard, layout)
    return this.#across.settleAcross(s, shard, layout)
  }

  /** Doing another shard's part here would put its keys in the wrong object: refuse, where the runtime tells the name. */
  #sameObject(shard: number, layout: Layout) {
    const name = this.ctx.id.name
    if (name !== undefined && name !== `${layout.prefix}${shard}`) throw new Error(`admitAcross for ${layout.prefix}${shard} reached ${name}`)
  }

  settle(s: Settlement): void {
    const now = this.#now()
    for (const r of s.rates) {
      const e = this.#num(r.key, now)
      const tat = Math.max(e?.v ?? now, now) + (r.delta * r.periodMs) / r.limit
      // Taking more than the limit after the fact puts the TAT beyond one period: keep the key until then.
      if (tat > now) this.#setNum(r.key, tat, Math.max(tat, now + r.periodMs) + 1000)
      else this.#sql.exec('DELETE FROM num WHERE k = ?', r.key)
    }
    for (const c of s.counters) {
      const e = this.#num(c.key, now)
      this.#setNum(c.key, (e?.v ?? 0) + c.delta, e ? e.exp : now + c.ttlSeconds * 1000)
    }
  }

  counters(keys: string[]): number[] {
    const now = this.#now()
    return keys.map((k) => this.#num(k, now)?.v ?? 0)
  }

  #liveHash(key: string, now: number): boolean {
    const r = this.#sql.exec<{ exp: number | null }>('SELECT exp FROM hx WHERE k = ?', key).toArray()[0]
    if (!r) return false
    if (r.exp !== null && r.exp <= now) {
      this.#sql.exec('DELETE FROM hx WHERE k = ?', key)
      this.#sql.exec('DELETE FROM hf WHERE k = ?', key)
      return false
    }
    return true
  }

  addFields(key: string, deltas: Record<string, number>, ttlSeconds?: number): void {
    const now = this.#now()
    this.#sweep(now)
    if (!this.#liveHash(key, now)) this.#sql.exec('INSERT INTO hx (k, exp) VALUES (?, NULL)', key)
    for (const f in deltas) {
      // A missing measure (an embedding's output tokens) adds nothing, as in memory; SQLite would refuse NULL.
      if (!Number.isFinite(deltas[f])) continue
      this.#sql.exec('INSERT INTO hf (k, f, v) VALUES (?, ?, ?) ON CONFLICT (k, f) DO UPDATE SET v = v + excluded.v', key, f, deltas[f]!)
    }
    if (ttlSeconds !== undefined) this.#sql.exec('UPDATE hx SET exp = ? WHERE k = ?', now + ttlSeconds * 1000, key)
  }

  readFields(key: string): Record<string, number> {
    if (!this.#liveHash(key, this.#now())) return {}
    const out: Record<string, number> = {}
    for (const r of this.#sql.exec<{ f: string; v: number }>('SELECT f, v FROM hf WHERE k = ?', key)) out[r.f] = r.v
    return out
  }

  /** Several hashes in one call (shared breaker trips, experiment variants). */
  readHashes(keys: string[]): Array<Record<string, number>> {
    return keys.map((k) => this.readFields(k))
  }

  put(key: string, value: string, opts: { ttlSeconds?: number; ifAbsent?: boolean } = {}): string {
    const now = this.#now()
    const e = this.#val(key, now)
    if (e !== undefined && opts.ifAbsent) return e
    this.#sweep(now)
    const [first, ...rest] = pieces(value)
    this.#sql.exec('INSERT OR REPLACE INTO val (k, v, exp) VALUES (?, ?, ?)', key, first!, opts.ttlSeconds === undefined ? null : now + opts.ttlSeconds * 1000)
    this.#sql.exec('DELETE FROM valp WHERE k = ?', key)
    rest.forEach((p, i) => this.#sql.exec('INSERT INTO valp (k, i, v) VALUES (?, ?, ?)', key, i + 1, p))
    return value
  }

  get(key: string): string | undefined {
    return this.#val(key, this.#now())
  }

  #val(key: string, now: number): string | undefined {
    const r = this.#sql.exec<{ v: string; exp: number | null }>('SELECT v, exp FROM val WHERE k = ?', key).toArray()[0]
    if (!r) return undefined
    if (r.exp !== null && r.exp <= now) {
      this.#sql.exec('DELETE FROM val WHERE k = ?', key)
      this.#sql.exec('DELETE FROM valp WHERE k = ?', key)
      return undefined
    }
    const rest = this.#sql.exec<{ v: string }>('SELECT v FROM valp WHERE k = ? ORDER BY i', key).toArray()
    return rest.length ? r.v + rest.map((p) => p.v).join('') : r.v
  }
}
