// The live state of every backend, in this process: requests in flight,
// recent latency, breaker and health. Routing strategies read it, attempts
// feed it, /v1/status shows it. It outlives config reloads (keyed by
// "namespace/name"), so a reload does not forget a failing backend.
import type { Backend } from '../config/compile.ts'
import { BreakerRegistry, type Breaker, type BreakerClock, type BreakerState, type Permit } from './breaker.ts'
import type { Health } from './health.ts'

/** Weight of a new latency sample in the moving average. */
const ALPHA = 0.3
/** A latency older than this says little; the backend is explored again. */
const STALE_MS = 60_000

export interface BackendLive {
  inflight: number
  /** Exponentially weighted time to answer (first content for streams), ms. */
  latencyMs?: number
  lastSampleAt: number
  requests: number
  failures: number
}

/** One request's hold on a backend: its in-flight slot and breaker permit. End it once. */
export interface Lease {
  /** The backend answered (whole body, or a stream's first content) after `latencyMs`. */
  answered(latencyMs: number): void
  /** The request is over. `failure`: a failure that counts against the backend. */
  end(outcome: 'success' | 'failure' | 'cancelled'): void
}

export interface FleetOptions {
  clock?: BreakerClock
  health?: (key: string) => Health
  onBreakerChange?: (key: string, from: BreakerState, to: BreakerState) => void
}

export const backendKey = (b: Backend) => `${b.namespace}/${b.name}`

/** What the fleet keeps for one compiled backend object; a reload makes new ones, which find the same live state by key. */
interface Slot {
  epoch: number
  key: string
  live: BackendLive
  breaker: Breaker
}

export class Fleet {
  readonly breakers: BreakerRegistry
  readonly #live = new Map<string, BackendLive>()
  readonly #slots = new WeakMap<Backend, Slot>()
  /** Bumped by retain(): slots made before it may hold records it dropped. */
  #epoch = 0
  readonly #now: () => number
  readonly #health: (key: string) => Health

  constructor(opts: FleetOptions = {}) {
    this.breakers = new BreakerRegistry({ clock: opts.clock, onChange: opts.onBreakerChange })
    this.#now = opts.clock ? () => opts.clock!.now() : Date.now
    this.#health = opts.health ?? (() => 'unknown')
  }

  // A backend's key, live record and breaker, looked up once per backend object rather than
  // by building its key on every call; dropped and looked up afresh when retain() removed them.
  #slot(b: Backend): Slot {
    let s = this.#slots.get(b)
    if (s?.epoch === this.#epoch) return s
    const key = backendKey(b)
    let live = this.#live.get(key)
    if (!live) this.#live.set(key, (live = { inflight: 0, lastSampleAt: -Infinity, requests: 0, failures: 0 }))
    s = { epoch: this.#epoch, key, live, breaker: this.breakers.get(key, b.spec.circuitBreaker) }
    this.#slots.set(b, s)
    return s
  }

  live(b: Backend): BackendLive {
    return this.#slot(b).live
  }

  breaker(b: Backend): Breaker {
    return this.#slot(b).breaker
  }

  health(b: Backend): Health {
    return this.#health(this.#slot(b).key)
  }

  /** May the plan count on it: its breaker lets requests through and it is not known unhealthy. */
  usable(b: Backend): boolean {
    return this.health(b) !== 'unhealthy' && this.breaker(b).available()
  }

  /** Recent latency, or undefined when there is none worth trusting (never tried, or long ago). */
  latency(b: Backend): number | undefined {
    const l = this.live(b)
    return l.latencyMs !== undefined && this.#now() - l.lastSampleAt < STALE_MS ? l.latencyMs : undefined
  }

  /**
   * Takes a slot on the backend. Undefined when it is at its concurrency cap,
   * or its breaker refuses and `force` (a last resort) is not set.
   */
  start(b: Backend, force = false): Lease | undefined {
    const slot = this.#slot(b)
    const live = slot.live
    if (live.inflight >= b.maxConcurrency) return undefined
    const permit: Permit | undefined = slot.breaker.acquire()
    if (!permit && !force) return undefined
    live.inflight++
    live.requests++
    return new FleetLease(live, permit, this.#now)
  }

  /** Forget backends that left the config. */
  retain(backends: Iterable<Backend>): void {
    this.#epoch++
    const keep = new Set([...backends].map(backendKey))
    for (const k of this.#live.keys()) if (!keep.has(k)) this.#live.delete(k)
    this.breakers.retain(keep)
  }
}

class FleetLease implements Lease {
  #ended = false
  constructor(
    private readonly live: BackendLive,
    private readonly permit: Permit | undefined,
    private readonly now: () => number,
  ) {}

  answered(ms: number): void {
    const live = this.live
    const now = this.now()
    live.latencyMs = live.latencyMs === undefined || now - live.lastSampleAt >= STALE_MS ? ms : live.latencyMs + ALPHA * (ms - live.latencyMs)
    live.lastSampleAt = now
  }

  end(outcome: 'success' | 'failure' | 'cancelled'): void {
    if (this.#ended) return
    this.#ended = true
    this.live.inflight--
    if (outcome === 'failure') this.live.failures++
    const permit = this.permit
    if (!permit) return
    if (outcome === 'success') permit.success()
    else if (outcome === 'failure') permit.failure()
    else permit.release()
  }
}
