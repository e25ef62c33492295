// Circuit breakers, one per backend: stop sending to a backend that keeps
// failing, wait a cooldown that grows with each trip, then let a few probe
// requests decide whether it is back. Pure logic: the clock and the random
// source are injected and nothing runs on its own; time-based moves
// (open → half-open) happen when the breaker is next asked.
//
// The breaker only counts what it is told: the caller reports failures that
// say something about the backend (server, timeout, connection, rate limit),
// never a client's bad request.
import { backendSpec, type BackendSpec } from '../config/schema.ts'

export type BreakerState = 'closed' | 'open' | 'half-open'

export type BreakerPolicy = NonNullable<BackendSpec['circuitBreaker']>

/** The policy of a backend without a `circuitBreaker` block: the schema's defaults. */
export const DEFAULT_BREAKER_POLICY: BreakerPolicy = backendSpec.shape.circuitBreaker.unwrap().parse({})

export interface BreakerClock {
  now(): number
  random(): number
}

export const systemClock: BreakerClock = { now: () => Date.now(), random: () => Math.random() }

/**
 * The right to send one request. Report its outcome once; later calls are
 * ignored, so `release()` in a `finally` after `success()` is safe.
 */
export interface Permit {
  /** The backend answered. */
  success(): void
  /** A failure that counts against the backend (never a client's 4xx). */
  failure(): void
  /** Ended without a verdict (client went away, cancelled): frees a half-open slot. */
  release(): void
}

export interface BreakerSnapshot {
  state: BreakerState
  consecutiveFailures: number
  windowRequests: number
  windowFailures: number
  trips: number
  /** When the cooldown ends (clock ms), while open. */
  openUntil?: number
}

const NOOP: Permit = Object.freeze({ success() {}, failure() {}, release() {} })

/** The failure-rate window is a ring of this many time buckets: O(1) per request, fixed memory. */
const BUCKETS = 10

export class Breaker {
  /** Called on every state change (metrics, and sharing with other replicas later). */
  onChange?: (from: BreakerState, to: BreakerState) => void

  private state: BreakerState = 'closed'
  /** Bumped on every state change: outcomes of requests sent under an earlier state are stale. */
  private generation = 0
  private consecutive = 0
  private trips = 0
  private openUntil = 0
  private closedAt = 0
  private probes = 0
  private readonly width: number
  private readonly bucketIds = new Float64Array(BUCKETS)
  private readonly requests = new Uint32Array(BUCKETS)
  private readonly failures = new Uint32Array(BUCKETS)

  constructor(
    readonly policy: BreakerPolicy,
    private readonly clock: BreakerClock = systemClock,
  ) {
    this.width = (policy.windowSeconds * 1000) / BUCKETS
    this.bucketIds.fill(-Infinity)
  }

  /** May a request be sent now? Does not take anything: for planning. */
  available(): boolean {
    if (!this.policy.enabled) return true
    this.tick()
    if (this.state === 'closed') return true
    return this.state === 'half-open' && this.probes < this.policy.halfOpenRequests
  }

  /** Take the right to send: always granted when closed; in half-open one of the probe slots; never while open. */
  acquire(): Permit | undefined {
    if (!this.policy.enabled) return NOOP
    this.tick()
    if (this.state === 'open') return undefined
    const probe = this.state === 'half-open'
    if (probe) {
      if (this.probes >= this.policy.halfOpenRequests) return undefined
      this.probes++
    }
    return new BreakerPermit(this, this.generation, probe)
  }

  /**
   * Another instance opened this backend until `untilMs`: open here too, until
   * then (a closed breaker only; one already open or probing keeps its course).
   */
  openUntilRemote(untilMs: number): void {
    if (!this.policy.enabled) return
    this.tick()
    if (this.state !== 'closed' || untilMs <= this.clock.now()) return
    this.trips++
    this.openUntil = untilMs
    this.reset()
    this.move('open')
  }

  snapshot(): BreakerSnapshot {
    this.tick()
    const { requests, failures } = this.window()
    const s: BreakerSnapshot = { state: this.state, consecutiveFailures: this.consecutive, windowRequests: requests, windowFailures: failures, trips: this.trips }
    if (this.state === 'open') s.openUntil = this.openUntil
    return s
  }

  /** A permit's outcome (BreakerPermit calls it once). */
  settle(generation: number, probe: boolean, verdict: 'success' | 'failure' | 'release'): void {
    if (probe && generation === this.generation) this.probes--
    const now = this.tick()
    // A long request sent before the last trip says nothing about the backend now.
    if (generation !== this.generation || verdict === 'release') return
    if (this.state === 'half-open') {
      if (verdict === 'success') this.close()
      else this.trip()
      return
    }
    this.record(verdict === 'failure', now)
    if (verdict === 'success') {
      this.consecutive = 0
      return
    }
    this.consecutive++
    const p = this.policy
    const { requests, failures } = this.window(now)
    if (this.consecutive >= p.consecutiveFailures || (requests >= p.minimumRequests && failures * 100 >= p.failureRatePercent * requests)) this.trip()
  }

  /** Moves that only depend on time; returns the time it read. */
  private tick(): number {
    const now = this.clock.now()
    if (this.state === 'open' && now >= this.openUntil) {
      this.probes = 0
      this.move('half-open')
    } else if (this.state === 'closed' && this.trips > 0 && now - this.closedAt >= this.policy.windowSeconds * 1000) {
      // Stayed closed for a whole window: the next trip starts from the base cooldown again.
      this.trips = 0
    }
    return now
  }

  private trip(): void {
    const p = this.policy
    this.trips++
    const ceiling = Math.min(p.maxCooldownSeconds, p.cooldownSeconds * 2 ** Math.min(this.trips - 1, 52)) * 1000
    // Jitter spreads the probes of many replicas (and many breakers) apart.
    const r = this.clock.random()
    const cooldown = p.jitter === 'full' ? ceiling * r : p.jitter === 'partial' ? ceiling * (0.5 + r / 2) : ceiling
    this.openUntil = this.clock.now() + cooldown
    this.reset()
    this.move('open')
  }

  private close(): void {
    this.closedAt = this.clock.now()
    this.reset()
    this.move('closed')
  }

  private reset(): void {
    this.consecutive = 0
    this.probes = 0
    this.bucketIds.fill(-Infinity)
  }

  private move(to: BreakerState): void {
    const from = this.state
    this.state = to
    this.generation++
    this.onChange?.(from, to)
  }

  private record(failed: boolean, now: number): void {
    const id = Math.floor(now / this.width)
    const i = id % BUCKETS
    if (this.bucketIds[i] !== id) {
      this.bucketIds[i] = id
      this.requests[i] = 0
      this.failures[i] = 0
    }
    this.requests[i]!++
    if (failed) this.failures[i]!++
  }

  private window(now = this.clock.now()): { requests: number; failures: number } {
    const oldest = Math.floor(now / this.width) - BUCKETS
    let requests = 0
    let failures = 0
    for (let i = 0; i < BUCKETS; i++) {
      if (this.bucketIds[i]! <= oldest) continue
      requests += this.requests[i]!
      failures += this.failures[i]!
    }
    return { requests, failures }
  }
}

/** A permit as an object of its own, not three closures: one is taken per request. */
class BreakerPermit implements Permit {
  #done = false
  constructor(
    private readonly breaker: Breaker,
    private readonly generation: number,
    private readonly probe: boolean,
  ) {}

  #end(verdict: 'success' | 'failure' | 'release') {
    if (this.#done) return
    this.#done = true
    this.breaker.settle(this.generation, this.probe, verdict)
  }
  success() {
    this.#end('success')
  }
  failure() {
    this.#end('failure')
  }
  release() {
    this.#end('release')
  }
}

/**
 * One breaker per backend key ("namespace/name"). A config reload keeps a
 * backend's breaker, state and all, while its policy is unchanged.
 */
export class BreakerRegistry {
  /** `policy` is the last equal policy object seen, so a reloaded config pays one deep compare, not one per request. */
  private readonly breakers = new Map<string, { breaker: Breaker; policy: BreakerPolicy }>()

  constructor(
    private readonly opts: { clock?: BreakerClock; onChange?: (key: string, from: BreakerState, to: BreakerState) => void } = {},
  ) {}

  /** The backend's breaker; `policy` is its `spec.circuitBreaker` (absent: the defaults). */
  get(key: string, policy: BreakerPolicy = DEFAULT_BREAKER_POLICY): Breaker {
    const have = this.breakers.get(key)
    if (have && have.policy === policy) return have.breaker
    if (have && samePolicy(have.policy, policy)) {
      have.policy = policy
      return have.breaker
    }
    const breaker = new Breaker(policy, this.opts.clock)
    const onChange = this.opts.onChange
    if (onChange) breaker.onChange = (from, to) => onChange(key, from, to)
    this.breakers.set(key, { breaker, policy })
    return breaker
  }

  /** The backend's breaker if it has one (it gets one when first used). */
  peek(key: string): Breaker | undefined {
    return this.breakers.get(key)?.breaker
  }

  /** Drop the breakers of backends that are gone from the config. */
  retain(keys: Iterable<string>): void {
    const keep = new Set(keys)
    for (const k of this.breakers.keys()) if (!keep.has(k)) this.breakers.delete(k)
  }

  /** Current breakers, for metrics and status. */
  *entries(): IterableIterator<[string, Breaker]> {
    for (const [k, v] of this.breakers) yield [k, v.breaker]
  }
}

function samePolicy(a: BreakerPolicy, b: BreakerPolicy): boolean {
  for (const k of Object.keys(a) as Array<keyof BreakerPolicy>) if (a[k] !== b[k]) return false
  return Object.keys(a).length === Object.keys(b).length
}
