// Kortex's metric instruments, through @opentelemetry/api only: each runtime
// installs (or not) a meter provider and an exporter (Prometheus on Node and
// Deno). Without one, every record call below is one identity check and a
// return. Spans live beside these (otel.ts) and share nothing but the names.
// The request path's counters and histograms are summed here (Tally,
// HistogramTally: a few tens of ns a record, where the SDK's instruments
// hash their attributes for ~1 µs) and read at collection: counters as
// observable counters, histograms through a metric producer the runtime
// gives its reader (adapters/metrics/producer.ts).
//
// Attributes are bounded: names from the config (routes, backends, budgets,
// teams) and fixed vocabularies (outcomes, reasons, scopes), never a user,
// key or request id. Values a client can choose (models, features) are capped
// per dimension; past the cap they fold into `other`.
import { createNoopMeter, metrics } from '@opentelemetry/api'
import type { Attributes, Counter, Gauge, Histogram, MeterProvider, Observable, ObservableGauge } from '@opentelemetry/api'
import * as g from './genai.ts'

const SCOPE = 'kortex'

/** Kortex's own metric names (OpenTelemetry style; Prometheus shows dots as underscores, counters with _total, seconds with _seconds). */
export const M = {
  requests: 'kortex.requests',
  cost: 'kortex.cost',
  attempts: 'kortex.upstream.attempts',
  retries: 'kortex.upstream.retries',
  breaker: 'kortex.breaker.state',
  health: 'kortex.backend.health',
  inflight: 'kortex.backend.inflight',
  routeAvailable: 'kortex.route.backends.available',
  rateLimited: 'kortex.rate_limit.refusals',
  budgetSpent: 'kortex.budget.spent',
  budgetRemaining: 'kortex.budget.remaining',
  configGeneration: 'kortex.config.generation',
  configReloads: 'kortex.config.reloads',
  storeFailures: 'kortex.state_store.failures',
  storeErrors: 'kortex.state_store.errors',
  storeDuration: 'kortex.state_store.duration',
  streams: 'kortex.streams',
} as const

/** How a request ended, for kortex.requests' `outcome`. */
export type Outcome = 'served' | 'failed_over' | 'failed' | 'refused'

// Past this many distinct values a client-chosen dimension reports OTHER.
const LIMIT = 100
export const OTHER = 'other'
const seen = new Map<string, Set<string>>()
/** The value, or `other` once `key` has LIMIT distinct values: a client inventing models or features cannot multiply the series. */
export function bounded(key: string, value: string): string {
  let set = seen.get(key)
  if (!set) seen.set(key, (set = new Set()))
  if (set.has(value)) return value
  if (set.size >= LIMIT) return OTHER
  set.add(value)
  return value
}

export interface Instruments {
  tokens: HistogramTally
  duration: HistogramTally
  ttfc: HistogramTally
  /** The request-path histograms, for the exporter's producer (adapters/metrics/producer.ts). */
  histograms: readonly HistogramTally[]
  requests: Tally
  cost: Tally
  attempts: Tally
  retries: Tally
  rateLimited: Counter
  budgetSpent: Gauge
  budgetRemaining: Gauge
  configReloads: Counter
  storeFailures: Counter
  storeErrors: Counter
  storeDuration: Histogram
  streams: Tally
}

/** What the gateway reports when scraped: breaker, health and in-flight per backend, usable backends per route. */
export interface FleetView {
  backends(): Iterable<{ backend: string; breaker: 'closed' | 'open' | 'half-open'; health: 'healthy' | 'unhealthy' | 'unknown'; inflight: number }>
  routes(): Iterable<{ route: string; available: number }>
}
const views = new Set<FleetView>()
/** Report this view's gauges at every collection; returns the function that stops it. */
export function observeFleet(view: FleetView): () => void {
  views.add(view)
  instrumentsNow()
  return () => views.delete(view)
}

/** GenAI metric attributes, in the order the record calls give them. */
const GENAI_NAMES = [g.GEN_AI_OPERATION_NAME, g.GEN_AI_REQUEST_MODEL, g.GEN_AI_PROVIDER_NAME, g.GEN_AI_RESPONSE_MODEL, g.ERROR_TYPE]
const GENAI_TOKEN_NAMES = [g.GEN_AI_OPERATION_NAME, g.GEN_AI_REQUEST_MODEL, g.GEN_AI_PROVIDER_NAME, g.GEN_AI_RESPONSE_MODEL, g.GEN_AI_TOKEN_TYPE]

const BREAKER_STATES = ['closed', 'half-open', 'open'] as const
const HEALTH_STATES = ['healthy', 'unhealthy', 'unknown'] as const
function observe(breaker: ObservableGauge, health: ObservableGauge, inflight: ObservableGauge, available: ObservableGauge) {
  return (r: { observe(o: ObservableGauge, v: number, a: Attributes): void }) => {
    for (const v of views) {
      for (const b of v.backends()) {
        // One series per state, 1 for the current one: `== 1` alerts and stacked panels read it directly.
        for (const s of BREAKER_STATES) r.observe(breaker, s === b.breaker ? 1 : 0, { backend: b.backend, state: s })
        for (const s of HEALTH_STATES) r.observe(health, s === b.health ? 1 : 0, { backend: b.backend, state: s })
        r.observe(inflight, b.inflight, { backend: b.backend })
      }
      for (const rt of v.routes()) r.observe(available, rt.available, { route: rt.route })
    }
  }
}

/**
 * Series by their label values, in nested Maps: the values are mostly strings
 * already seen (config names, fixed words), whose hashes V8 keeps, so a lookup
 * builds no key string.
 */
class SeriesIndex<T> {
  readonly #root = new Map<string, unknown>()
  readonly all: T[] = []
  constructor(readonly make: (values: readonly string[]) => T) {}

  get(values: readonly string[]): T {
    let m = this.#root
    const last = values.length - 1
    for (let i = 0; i < last; i++) {
      let next = m.get(values[i]!) as Map<string, unknown> | undefined
      if (!next) m.set(values[i]!, (next = new Map()))
      m = next
    }
    let s = m.get(values[last]!) as T | undefined
    if (!s) {
      m.set(values[last]!, (s = this.make(values)))
      this.all.push(s)
    }
    return s
  }
}

/** The attributes of a series: `names` paired with `values`; an empty value leaves its name out when `omitEmpty`. */
function attributesOf(names: readonly string[], values: readonly string[], omitEmpty: boolean): Attributes {
  const a: Attributes = {}
  names.forEach((n, i) => {
    if (!omitEmpty || values[i]) a[n] = values[i]!
  })
  return a
}

/**
 * A counter summed here and reported to OpenTelemetry as an observable counter
 * at each collection. The SDK's synchronous counters hash their attributes on
 * every add (~1 µs); a request's counters cost a key and a Map lookup here.
 */
export class Tally {
  readonly #series: SeriesIndex<{ attributes: Attributes; value: number }>
  /** `omitEmpty`: an empty value leaves its attribute out (optional dimensions) instead of reporting "". */
  constructor(readonly names: readonly string[], readonly omitEmpty = false) {
    this.#series = new SeriesIndex((values) => ({ attributes: attributesOf(names, values, omitEmpty), value: 0 }))
  }

  /** Adds `value` to the series of these label values, in the order of `names`. */
  add(value: number, values: readonly string[]): void {
    this.#series.get(values).value += value
  }

  observe(r: { observe(o: Observable, v: number, a: Attributes): void }, o: Observable): void {
    for (const s of this.#series.all) r.observe(o, s.value, s.attributes)
  }
}

export interface HistogramSeries {
  attributes: Attributes
  /** counts[i]: values <= bounds[i] and above the bound before; the last, values above every bound. */
  counts: number[]
  sum: number
  count: number
  min: number
  max: number
}

/**
 * A histogram aggregated here, with explicit bucket bounds: recording is a key,
 * a Map lookup and a bucket search. The OpenTelemetry API has no observable
 * histogram, so the runtime's exporter reads these through a metric producer
 * (adapters/metrics/producer.ts) beside the SDK's own instruments.
 */
export class HistogramTally {
  readonly #series: SeriesIndex<HistogramSeries>
  /** When these series started (epoch ms): a new meter provider starts new ones. */
  readonly since = Date.now()
  /** Empty label values leave their attribute out (optional GenAI attributes). */
  constructor(readonly name: string, readonly unit: string, readonly description: string, readonly bounds: readonly number[], readonly names: readonly string[]) {
    this.#series = new SeriesIndex((values) => ({ attributes: attributesOf(names, values, true), counts: new Array<number>(bounds.length + 1).fill(0), sum: 0, count: 0, min: Infinity, max: -Infinity }))
  }

  record(value: number, values: readonly string[]): void {
    const s = this.#series.get(values)
    const b = this.bounds
    let i = 0
    while (i < b.length && value > b[i]!) i++
    s.counts[i]!++
    s.sum += value
    s.count++
    if (value < s.min) s.min = value
    if (value > s.max) s.max = value
  }

  series(): readonly HistogramSeries[] {
    return this.#series.all
  }
}

// Fetched on use, so a provider registered after import is picked up; cached per
// provider, so the steady state is an identity check. undefined = no SDK.
let meterProvider: MeterProvider | undefined
let instruments: Instruments | undefined
export function instrumentsNow(): Instruments | undefined {
  const mp = metrics.getMeterProvider()
  if (mp === meterProvider) return instruments
  meterProvider = mp
  const meter = mp.getMeter(SCOPE)
  if (meter === createNoopMeter()) return (instruments = undefined)
  const breaker = meter.createObservableGauge(M.breaker, { description: 'Circuit breaker state per backend: 1 for the current state (closed, half-open, open).' })
  const health = meter.createObservableGauge(M.health, { description: 'Active health check state per backend: 1 for the current state (healthy, unhealthy, unknown).' })
  const inflight = meter.createObservableGauge(M.inflight, { unit: '{request}', description: 'Upstream requests in flight per backend.' })
  const generationGauge = meter.createObservableGauge(M.configGeneration, { description: 'Config generation in force: 1 for the first config, bumped by every applied reload.' })
  meter.addBatchObservableCallback((r) => void (generation > 0 && r.observe(generationGauge, generation)), [generationGauge])
  const available = meter.createObservableGauge(M.routeAvailable, { unit: '{backend}', description: "Backends a route can send to now (breaker not open, not unhealthy); 0 means the route's requests fail." })
  meter.addBatchObservableCallback(observe(breaker, health, inflight, available) as never, [breaker, health, inflight, available])
  const configReloads = meter.createCounter(M.configReloads, { unit: '{reload}', description: 'Config reloads by result (applied, refused).' })
  // Both results from 0, so the first refusal is an increase an alert sees.
  configReloads.add(0, { result: 'applied' })
  configReloads.add(0, { result: 'refused' })
  // Request-path counters: summed in tallies, reported at collection. A new provider starts them from zero.
  const tallies: Array<[Tally, Observable]> = []
  const tally = (name: string, unit: string, description: string, names: string[], omitEmpty = false) => {
    const t = new Tally(names, omitEmpty)
    tallies.push([t, meter.createObservableCounter(name, { unit, description })])
    return t
  }
  const requests = tally(M.requests, '{request}', 'Requests by route, backend, status class and outcome (served, failed_over, failed, refused with its reason).', ['route', 'backend', 'status_class', 'outcome', 'reason'])
  // One instrument for every currency: the `currency` attribute names it, so sum per currency only.
  const cost = tally(M.cost, '{currency}', 'Cost of requests, in the units of the currency attribute.', ['route', 'model', 'currency', 'backend', 'team', 'feature'], true)
  const attempts = tally(M.attempts, '{attempt}', 'Upstream attempts by route, backend and result (ok, failed).', ['route', 'backend', 'result'])
  const retries = tally(M.retries, '{attempt}', 'Upstream attempts after the first, by route.', ['route'])
  const streams = tally(M.streams, '{stream}', 'Streamed responses by route, backend and outcome (completed, cut, cancelled).', ['route', 'backend', 'outcome'])
  meter.addBatchObservableCallback((r) => {
    for (const [t, o] of tallies) t.observe(r, o)
  }, tallies.map(([, o]) => o))
  const tokens = new HistogramTally(g.GEN_AI_CLIENT_TOKEN_USAGE, g.TOKEN_UNIT, 'Number of input and output tokens used.', g.TOKEN_BUCKETS, GENAI_TOKEN_NAMES)
  const duration = new HistogramTally(g.GEN_AI_CLIENT_OPERATION_DURATION, g.SECONDS_UNIT, 'GenAI operation duration.', g.SECONDS_BUCKETS, GENAI_NAMES)
  const ttfc = new HistogramTally(g.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK, g.SECONDS_UNIT, 'Time to receive the first chunk of a streamed response.', g.SECONDS_BUCKETS, GENAI_NAMES)
  return (instruments = {
    tokens,
    duration,
    ttfc,
    histograms: [tokens, duration, ttfc],
    requests,
    cost,
    attempts,
    retries,
    streams,
    // One instrument for every currency: the `currency` attribute names it, so sum per currency only.
    rateLimited: meter.createCounter(M.rateLimited, { unit: '{request}', description: 'Requests refused by a rate limit, by scope (route, key, team, user).' }),
    budgetSpent: meter.createGauge(M.budgetSpent, { unit: '{currency}', description: 'Spend (settled and reserved) of a team or key budget in its current period, as of its last check.' }),
    budgetRemaining: meter.createGauge(M.budgetRemaining, { unit: '{currency}', description: 'What a team or key budget has left in its current period, as of its last check.' }),
    configReloads,
    storeFailures: meter.createCounter(M.storeFailures, { unit: '{call}', description: 'State store calls for limits that failed (the request then let through: open, or refused: closed).' }),
    storeErrors: meter.createCounter(M.storeErrors, { unit: '{call}', description: 'State store calls that failed, by operation.' }),
    storeDuration: meter.createHistogram(M.storeDuration, { unit: g.SECONDS_UNIT, description: 'State store call latency, by operation.', advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] } }),
  })
}

export const statusClass = (status: number) => (status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other')

/** A request refused before any attempt (bad request, auth, unknown model, limits): its status and code, and its route once it was routed (limits, budgets). */
export function recordRefusal(status: number, reason: string, route?: string): void {
  const m = instrumentsNow()
  if (!m) return
  try {
    m.requests.add(1, [route === undefined ? '' : bounded('route', route), '', statusClass(status), 'refused', bounded('error', reason)])
  } catch {
    /* telemetry never breaks a request */
  }
}

/** A rate limit refused a request; scope is route, key, team or user (never who). */
export function recordRateLimited(scope: string): void {
  instrumentsNow()?.rateLimited.add(1, { scope })
}

/** A team or key budget's spend and what is left, in nano-units, after a check. */
export function recordBudget(budget: string, currency: string, spentNano: number, limitNano: number): void {
  const m = instrumentsNow()
  if (!m) return
  const a = { budget, currency }
  m.budgetSpent.record(spentNano / 1e9, a)
  m.budgetRemaining.record(Math.max(0, limitNano - spentNano) / 1e9, a)
}

let generation = 0
/** A config loaded at start (initial), or a reload: applied (a new generation is in force) or refused (the old one stays). */
export function recordConfigLoad(result: 'initial' | 'applied' | 'refused'): void {
  if (result !== 'refused') generation++
  if (result !== 'initial') instrumentsNow()?.configReloads.add(1, { result })
}

/** One state store call: its latency, and whether it failed. */
export function recordStoreCall(op: string, seconds: number, failed: boolean): void {
  const m = instrumentsNow()
  if (!m) return
  m.storeDuration.record(seconds, { op })
  if (failed) m.storeErrors.add(1, { op })
}

/** A limits check the store could not answer; `outcome` is what the request got: let through (open) or refused (closed). */
export function recordStoreFailure(outcome: 'open' | 'closed'): void {
  instrumentsNow()?.storeFailures.add(1, { outcome })
}

/** How a streamed response ended: completed, cut (the upstream broke off) or cancelled (the client left). */
export function recordStream(route: string, backend: string, outcome: 'completed' | 'cut' | 'cancelled'): void {
  instrumentsNow()?.streams.add(1, [bounded('route', route), bounded('backend', backend), outcome])
}

/** Whether a meter provider records anything. */
export const metricsOn = (): boolean => instrumentsNow() !== undefined
