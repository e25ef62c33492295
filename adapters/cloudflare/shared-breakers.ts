// Circuit breakers shared by every isolate of the Worker, without a Durable
// Object call on the hot path: a breaker that opens here is published in the
// background (ctx.waitUntil) to one state object, and each isolate refreshes
// its view of the open breakers in the background at most every
// `refreshMs`; a backend open elsewhere is opened here too (with this
// breaker's own cooldown, jittered, so isolates probe it at different times).
import type { BreakerState } from '../../src/resilience/breaker.ts'
import type { Backend } from '../../src/config/compile.ts'
import { backendKey, type Fleet } from '../../src/resilience/fleet.ts'
import type { Logger } from '../../src/telemetry/log.ts'
import type { DurableObjectStore } from './do-store.ts'

const KEY = 'kortex:breakers'

type Wrapped = { onChange?: (from: BreakerState, to: BreakerState) => void; snapshot(): { state: BreakerState; openUntil?: number } }

export class SharedBreakers {
  readonly #store: DurableObjectStore
  readonly #log: Logger
  readonly #refreshMs: number
  #fleet: Fleet | undefined
  #backends: () => Iterable<Backend> = () => []
  readonly #wrapped = new WeakSet<object>()
  #pending: Array<{ key: string; until: number }> = []
  #lastRefresh = -Infinity
  #applying = false
  /** Remote trips already applied here: key -> open until. */
  readonly #applied = new Map<string, number>()

  constructor(store: DurableObjectStore, log: Logger, opts: { refreshMs?: number } = {}) {
    this.#store = store
    this.#log = log
    this.#refreshMs = opts.refreshMs ?? 2000
  }

  attach(fleet: Fleet, backends: () => Iterable<Backend>): void {
    this.#fleet = fleet
    this.#backends = backends
  }

  /** Per request, before it runs: publish local trips and refresh the shared view, both in the background. */
  refresh(ctx: { waitUntil(p: Promise<unknown>): void }): void {
    this.#watch()
    this.flush(ctx)
    const now = Date.now()
    if (now - this.#lastRefresh < this.#refreshMs) return
    this.#lastRefresh = now
    ctx.waitUntil(this.#pull().catch((err) => this.#log.warn('kortex: shared breaker refresh failed', { error: err instanceof Error ? err.message : String(err) })))
  }

  /** Publishes the trips seen since the last call, in the background. */
  flush(ctx: { waitUntil(p: Promise<unknown>): void }): void {
    this.#watch()
    if (!this.#pending.length) return
    const trips = this.#pending
    this.#pending = []
    const stub = this.#store.stub(KEY)
    ctx.waitUntil(Promise.all(trips.map((t) => stub.tripBreaker(t.key, t.until))).catch((err) => this.#log.warn('kortex: publishing a breaker trip failed', { error: err instanceof Error ? err.message : String(err) })))
  }

  /** Hooks every breaker of the fleet (new ones appear as backends are first used). */
  #watch(): void {
    if (!this.#fleet) return
    for (const [key, breaker] of this.#fleet.breakers.entries()) {
      if (this.#wrapped.has(breaker)) continue
      this.#wrapped.add(breaker)
      const b = breaker as unknown as Wrapped
      const inner = b.onChange
      b.onChange = (from, to) => {
        inner?.(from, to)
        if (to !== 'open' || this.#applying) return
        const until = b.snapshot().openUntil
        if (until !== undefined) this.#pending.push({ key, until })
      }
    }
  }

  async #pull(): Promise<void> {
    const open = await this.#store.stub(KEY).openBreakers()
    const fleet = this.#fleet
    if (!fleet) return
    // A backend this isolate has not used yet gets its breaker now, so the trip applies to it too.
    for (const b of this.#backends()) if (open[backendKey(b)] !== undefined) fleet.breaker(b)
    this.#watch()
    const now = Date.now()
    for (const [key, breaker] of fleet.breakers.entries()) {
      const until = open[key]
      if (until === undefined || until <= now || this.#applied.get(key) === until) continue
      this.#applied.set(key, until)
      if (breaker.snapshot().state !== 'closed') continue
      // The breaker's own trip: its cooldown, its jitter, its onChange (logged, not published again).
      this.#applying = true
      try {
        ;(breaker as unknown as { trip(): void }).trip()
      } finally {
        this.#applying = false
      }
    }
  }
}
