// What every request's stages share, built once per gateway: the config in
// force, the state store, the fleet of backends, the recorders and the log.
import { GatewayError } from '../api/errors.ts'
import type { GatewayDeps, ExecutionContext } from '../app.ts'
import type { CompiledConfig } from '../config/compile.ts'
import { systemClock, type Clock } from '../resilience/attempts.ts'
import { Fleet } from '../resilience/fleet.ts'
import { SharedBreakers } from '../resilience/shared-breakers.ts'
import type { StateStore } from '../state/store.ts'
import { MemoryStore } from '../state/memory.ts'
import { ExperimentRecorder } from '../experiments/record.ts'
import { AssignmentRing } from '../experiments/assignments.ts'
import { Limiter } from '../limits/admission.ts'
import { SpendBuffer } from '../usage/spend.ts'
import { HttpSink } from '../usage/sink.ts'
import { consoleLogger, type Logger } from '../telemetry/log.ts'
import { RefusalLog } from '../telemetry/refusals.ts'
import { Scrubbers, scrubbingLogger } from './secrets.ts'

export class Services {
  readonly deps: GatewayDeps
  readonly scrubbers: Scrubbers
  readonly log: Logger
  readonly clock: Clock
  readonly now: () => number
  readonly store: StateStore
  readonly recorder: ExperimentRecorder
  readonly limiter: Limiter
  /** Refusals before any attempt (a bad key, a limit): in the access log, a flood summarised. */
  readonly refusals: RefusalLog
  /** Errors from attempts have their access line and metrics already; the others are refusals. */
  readonly afterAttempts = new WeakSet<GatewayError>()
  /** The route a limit or budget refused on, for the refusal's metrics (refusals before routing have none). */
  readonly refusedOn = new WeakMap<GatewayError, string>()
  readonly spend: SpendBuffer
  readonly fleet: Fleet
  /** Breakers shared through the store when it can (Redis): trips published and pulled in the background. */
  readonly shared: SharedBreakers | undefined
  /** The cost sink follows the config; a new sink only when its settings change. */
  sink: HttpSink | undefined
  private sinkFor: string | undefined
  private seenConfig: CompiledConfig | undefined
  private bgWarnAt = -Infinity
  private bgFailures = 0

  constructor(deps: GatewayDeps) {
    this.deps = deps
    this.scrubbers = new Scrubbers(deps)
    const log = (this.log = scrubbingLogger(deps.log ?? consoleLogger, () => this.scrubbers.all(deps.config())))
    this.clock = { ...systemClock, ...deps.clock }
    const now = (this.now = this.clock.now)
    this.store = deps.store ?? new MemoryStore(now)
    // State of this instance alone (no store given): experiment assignments for feedback go in a
    // ring of typed arrays, not an object each. A store given may be shared, so they go there.
    const flushMs = deps.aggregatesFlushMs ?? 1000
    this.recorder = new ExperimentRecorder(this.store, now, deps.store ? undefined : new AssignmentRing(), flushMs)
    this.limiter = new Limiter(this.store, log)
    this.refusals = new RefusalLog(log, now)
    this.spend = new SpendBuffer(this.store, flushMs)
    this.fleet = new Fleet({
      clock: this.clock,
      health: deps.health ? (k) => deps.health!.health(k) : undefined,
      onBreakerChange: (backend, from, to) => {
        log.warn('kortex: circuit breaker changed', { backend, from, to })
        this.shared?.changed(backend, to)
      },
    })
    // The gateway's own memory store is this instance's alone: there is no one to share with.
    const board = deps.store && SharedBreakers.of(deps.store)
    this.shared = board ? new SharedBreakers(board, this.fleet, log, now) : undefined
  }

  /** The config in force; a 503 until one has loaded. */
  current(): CompiledConfig {
    const c = this.deps.config()
    if (!c) throw new GatewayError(503, 'The gateway has no configuration loaded yet', 'api_error', 'not_ready')
    return c
  }

  /** Once per new config: backends gone from it leave the fleet (their breakers too), and the cost sink follows its settings. */
  sync(config: CompiledConfig): void {
    if (config === this.seenConfig) return
    this.seenConfig = config
    this.fleet.retain(config.backends.values())
    const o = config.gateway.cost.sink
    if (JSON.stringify(o) === this.sinkFor) return
    this.sink?.flush().catch(() => {})
    this.sinkFor = JSON.stringify(o)
    const deps = this.deps
    this.sink = o && new HttpSink({ url: o.url, token: o.tokenEnv ? deps.secrets?.(o.tokenEnv) : undefined, batchSize: o.batchSize, flushMs: o.flushSeconds * 1000, maxQueue: o.maxQueue, fetch: deps.fetch, log: this.log })
  }

  /**
   * Work after the response, handed to the runtime. Failures are logged at most once a minute, with
   * how many there were: a store outage fails every request's after-work, and one line says so as well as a thousand.
   */
  waitUntil(ctx: Partial<ExecutionContext> | undefined, p: Promise<unknown>): void {
    const guarded = p.catch((err) => {
      this.bgFailures++
      if (this.now() - this.bgWarnAt < 60_000) return
      this.bgWarnAt = this.now()
      this.log.warn('kortex: background work failed', { error: err instanceof Error ? err.message : String(err), failuresSinceLastWarning: this.bgFailures })
      this.bgFailures = 0
    })
    if (ctx?.waitUntil) ctx.waitUntil(guarded)
  }
}
