// Kortex's metric instruments, through @opentelemetry/api only: each runtime
// installs (or not) a meter provider and an exporter (Prometheus on Node and
// Deno). Without one, every record call below is one identity check and a
// return. Spans live beside these (otel.ts) and share nothing but the names.
//
// Attributes are bounded: names from the config (routes, backends, budgets,
// teams) and fixed vocabularies (outcomes, reasons, scopes), never a user,
// key or request id. Values a client can choose (models, features) are capped
// per dimension; past the cap they fold into `other`.
import { createNoopMeter, metrics } from '@opentelemetry/api'
import type { Attributes, Counter, Gauge, Histogram, MeterProvider, ObservableGauge } from '@opentelemetry/api'
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
  tokens: Histogram
  duration: Histogram
  ttfc: Histogram
  requests: Counter
  cost: Counter
  attempts: Counter
  retries: Counter
  rateLimited: Counter
  budgetSpent: Gauge
  budgetRemaining: Gauge
  configReloads: Counter
  storeFailures: Counter
  storeErrors: Counter
  storeDuration: Histogram
  streams: Counter
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
  const seconds = (description: string) => ({ unit: g.SECONDS_UNIT, description, advice: { explicitBucketBoundaries: g.SECONDS_BUCKETS } })
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
  return (instruments = {
    tokens: meter.createHistogram(g.GEN_AI_CLIENT_TOKEN_USAGE, { unit: g.TOKEN_UNIT, description: 'Number of input and output tokens used.', advice: { explicitBucketBoundaries: g.TOKEN_BUCKETS } }),
    duration: meter.createHistogram(g.GEN_AI_CLIENT_OPERATION_DURATION, seconds('GenAI operation duration.')),
    ttfc: meter.createHistogram(g.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK, seconds('Time to receive the first chunk of a streamed response.')),
    requests: meter.createCounter(M.requests, { unit: '{request}', description: 'Requests by route, backend, status class and outcome (served, failed_over, failed, refused with its reason).' }),
    // One instrument for every currency: the `currency` attribute names it, so sum per currency only.
    cost: meter.createCounter(M.cost, { unit: '{currency}', description: 'Cost of requests, in the units of the currency attribute.' }),
    attempts: meter.createCounter(M.attempts, { unit: '{attempt}', description: 'Upstream attempts by route, backend and result (ok, failed).' }),
    retries: meter.createCounter(M.retries, { unit: '{attempt}', description: 'Upstream attempts after the first, by route.' }),
    rateLimited: meter.createCounter(M.rateLimited, { unit: '{request}', description: 'Requests refused by a rate limit, by scope (route, key, team, user).' }),
    budgetSpent: meter.createGauge(M.budgetSpent, { unit: '{currency}', description: 'Spend (settled and reserved) of a team or key budget in its current period, as of its last check.' }),
    budgetRemaining: meter.createGauge(M.budgetRemaining, { unit: '{currency}', description: 'What a team or key budget has left in its current period, as of its last check.' }),
    configReloads,
    storeFailures: meter.createCounter(M.storeFailures, { unit: '{call}', description: 'State store calls for limits that failed (the request then let through: open, or refused: closed).' }),
    storeErrors: meter.createCounter(M.storeErrors, { unit: '{call}', description: 'State store calls that failed, by operation.' }),
    storeDuration: meter.createHistogram(M.storeDuration, { unit: g.SECONDS_UNIT, description: 'State store call latency, by operation.', advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] } }),
    streams: meter.createCounter(M.streams, { unit: '{stream}', description: 'Streamed responses by route, backend and outcome (completed, cut, cancelled).' }),
  })
}

export const statusClass = (status: number) => (status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other')

/** A request refused before any attempt (bad request, auth, unknown model, limits): its status and code. */
export function recordRefusal(status: number, reason: string, route?: string): void {
  const m = instrumentsNow()
  if (!m) return
  try {
    m.requests.add(1, { route: route ?? '', backend: '', status_class: statusClass(status), outcome: 'refused', reason: bounded('reason', reason) })
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
  instrumentsNow()?.streams.add(1, { route: bounded('route', route), backend: bounded('backend', backend), outcome })
}

/** Whether a meter provider records anything. */
export const metricsOn = (): boolean => instrumentsNow() !== undefined
