// The Cloudflare Workers entry: the same createGateway the Node server runs,
// fed from Worker bindings.
//
// - Config, in order: the controller's config endpoint (KORTEX_CONFIG_URL,
//   bearer KORTEX_CONFIG_TOKEN; pulled with ETag, refreshed in the background
//   at most every KORTEX_CONFIG_REFRESH_SECONDS from the request path and on
//   every Cron Trigger; a failing pull keeps the last good config), else the
//   KORTEX_CONFIG_YAML var (YAML or JSON text; KORTEX_CONFIG, the older name,
//   also works), else the embedded demo config. A Worker reads no files: a
//   path in either, or KORTEX_CONFIG_FILE, is refused with the variable to use.
// - Secrets (apiKeySecret, keyEnv) from the Worker's string bindings.
// - State (limits, budgets, aggregates, the shared breaker board) in Durable
//   Objects when KORTEX_STATE is bound (the KortexState class below), else
//   in this isolate's memory.
// - The tokenizer's tables (exact prompt-token counts) from the static
//   assets (ASSETS), on first use: the bundle holds none.
// - Health checks on the Cron Trigger (scheduled), their results kept in the
//   state object that holds the breaker board, so every isolate skips a sick
//   backend; cost records and metrics after the response through ctx.waitUntil.
// - Traces: with OTEL_EXPORTER_OTLP_ENDPOINT set, @microlabs/otel-cf-workers
//   wraps the handlers (a span per request and per subrequest, the gateway's
//   GenAI spans inside it) and exports OTLP over HTTP after each request;
//   without it, requests skip the wrapper entirely.
// - Metrics: with that endpoint (or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) the
//   same instruments as /metrics on Node, exported over OTLP/HTTP once a
//   request's background work is done, at most every OTEL_METRIC_EXPORT_INTERVAL
//   ms per isolate (metrics.ts).
import { instrument, type ResolveConfigFn } from '@microlabs/otel-cf-workers'
import { createGateway, type RunningGateway } from '../../src/app.ts'
import { GatewayError, errorResponse } from '../../src/api/errors.ts'
import type { CompiledConfig } from '../../src/config/compile.ts'
import { DEFAULT_CONFIG_YAML } from '../../src/config/default.ts'
import { ConfigError } from '../../src/config/load.ts'
import { ConfigPuller } from '../../src/config/pull.ts'
import { configFromEnv } from '../../src/config/env.ts'
import { buildConfig } from '../../src/config/source.ts'
import { HealthMonitor } from '../../src/resilience/health.ts'
import { fleetView } from '../../src/telemetry/fleet-view.ts'
import { consoleLogger } from '../../src/telemetry/log.ts'
import { useRankSource } from '../../src/usage/tokens.ts'
import { DurableObjectStore, type StateNamespace } from './do-store.ts'
import { otlpHeaders, workerMetrics, type MetricsEnv } from './metrics.ts'
import { assetRanks, type AssetsBinding } from './tokenizer-ranks.ts'

export { KortexState } from './state-object.ts'

/** The bindings Kortex reads; any other string binding may hold a secret. */
export interface Env extends MetricsEnv {
  /** The gateway config (multi-document YAML, or JSON); the embedded demo config when absent. */
  KORTEX_CONFIG_YAML?: string
  /** The older name of KORTEX_CONFIG_YAML. */
  KORTEX_CONFIG?: string
  /** The controller's config endpoint (e.g. https://kortex-controller.example/config); wins over KORTEX_CONFIG. */
  KORTEX_CONFIG_URL?: string
  /** Bearer token for the controller (a secret). */
  KORTEX_CONFIG_TOKEN?: string
  /** Background refresh from the request path at most this often; default 30. */
  KORTEX_CONFIG_REFRESH_SECONDS?: string
  /** The KortexState Durable Object namespace: shared state for every isolate. */
  KORTEX_STATE?: StateNamespace
  /** How many objects the keys are spread over; default 16. */
  KORTEX_STATE_SHARDS?: string
  /** The static assets (wrangler.toml [assets]): the tokenizer's tables, fetched when a count must be exact. */
  ASSETS?: AssetsBinding
  /** OTLP/HTTP endpoint, e.g. https://otel.example.com (spans go to its /v1/traces, metrics to /v1/metrics); off when absent. */
  OTEL_EXPORTER_OTLP_ENDPOINT?: string
  /** Headers for the exporter, `k1=v1,k2=v2` (a secret when it holds a token). */
  OTEL_EXPORTER_OTLP_HEADERS?: string
  /** Default `kortex`. */
  OTEL_SERVICE_NAME?: string
  [binding: string]: unknown
}

/** The part of the Workers ExecutionContext the gateway uses. */
export interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void
  passThroughOnException?(): void
}

type Loaded = { ok: true; config: CompiledConfig } | { ok: false; error: GatewayError }

const secretsOf = (env: Env) => (name: string) => (typeof env[name] === 'string' ? (env[name] as string) : undefined)

// Per isolate: the config compiled from the binding text last seen, the puller, one gateway.
let loaded: { text: string; result: Promise<Loaded> } | undefined
let puller: { url: string; p: ConfigPuller; first: Promise<unknown>; lastPull: number } | undefined
let current: CompiledConfig | undefined
let instance: { gateway: RunningGateway; health: HealthMonitor; store?: DurableObjectStore; seen?: CompiledConfig; shared?: Promise<void> } | undefined

/** The config text the bindings name, or the reason they name none usable. */
function bound(env: Env): { text: string; source: string } | { error: string } {
  try {
    const named = configFromEnv(secretsOf(env), { files: false })
    return named && 'text' in named ? { text: named.text, source: named.from } : { text: DEFAULT_CONFIG_YAML, source: 'embedded demo config' }
  } catch (err) {
    return { error: (err as Error).message }
  }
}

function fromBinding(env: Env): Promise<Loaded> {
  const b = bound(env)
  if ('error' in b) {
    if (loaded?.text !== b.error) consoleLogger.error('kortex: config refused', { detail: b.error })
    loaded = { text: b.error, result: Promise.resolve({ ok: false, error: new GatewayError(503, `The gateway config is invalid, so no request can be served.\n${b.error}`, 'api_error', 'config_invalid') }) }
    return loaded.result
  }
  const { text, source } = b
  if (loaded?.text === text) return loaded.result
  const result = buildConfig(text, secretsOf(env), source).then(
    (config): Loaded => {
      for (const w of config.warnings) consoleLogger.warn(`kortex: ${w}`)
      return { ok: true, config }
    },
    (err: unknown): Loaded => {
      // ConfigError lists each problem by document, path and line; it never quotes values.
      const detail = err instanceof ConfigError ? err.message : `${source}: ${err instanceof Error ? err.message : String(err)}`
      consoleLogger.error('kortex: config refused', { detail })
      return { ok: false, error: new GatewayError(503, `The gateway config is invalid, so no request can be served.\n${detail}`, 'api_error', 'config_invalid') }
    },
  )
  loaded = { text, result }
  return result
}

function pullerFor(env: Env): NonNullable<typeof puller> | undefined {
  const url = typeof env.KORTEX_CONFIG_URL === 'string' ? env.KORTEX_CONFIG_URL.trim() : ''
  if (!url) return undefined
  if (puller?.url !== url) {
    const p = new ConfigPuller({
      url,
      token: typeof env.KORTEX_CONFIG_TOKEN === 'string' ? env.KORTEX_CONFIG_TOKEN : undefined,
      fetch: (input, init) => fetch(input, init),
      secrets: secretsOf(env),
      onUpdate: (_c, version) => consoleLogger.warn('kortex: config pulled from the controller', { version }),
      onError: (err) => consoleLogger.error('kortex: config pull failed; the last good config stays', { error: err instanceof Error ? err.message : String(err) }),
    })
    puller = { url, p, first: p.pullOnce(), lastPull: Date.now() }
  }
  return puller
}

/** The config in force: the controller's (refreshed in the background), else the binding's. */
async function load(env: Env, ctx?: ExecutionContext): Promise<Loaded> {
  const pull = pullerFor(env)
  if (pull) {
    await pull.first
    const c = pull.p.current()
    // Until a first pull succeeds, try again every second (still in the background).
    const refreshMs = c ? Number(env.KORTEX_CONFIG_REFRESH_SECONDS ?? 30) * 1000 : 1000
    if (ctx && Date.now() - pull.lastPull >= refreshMs) {
      pull.lastPull = Date.now()
      ctx.waitUntil(pull.p.pullOnce())
    }
    if (c) return { ok: true, config: c }
    // Never pulled successfully: the bound config until the controller answers; never the demo config in its place.
    const b = bound(env)
    if ('text' in b && b.text === DEFAULT_CONFIG_YAML) {
      return { ok: false, error: new GatewayError(503, 'The gateway has not received its config from the controller yet.', 'api_error', 'not_ready') }
    }
  }
  return fromBinding(env)
}

function gatewayFor(env: Env): NonNullable<typeof instance> {
  if (instance) return instance
  useRankSource(assetRanks(env.ASSETS, consoleLogger))
  const fetcher = (input: RequestInfo | URL, init?: RequestInit) => fetch(input, init)
  const health = new HealthMonitor({ fetch: fetcher, log: consoleLogger, periodic: false })
  const store = env.KORTEX_STATE ? new DurableObjectStore(env.KORTEX_STATE, { shards: env.KORTEX_STATE_SHARDS ? Number(env.KORTEX_STATE_SHARDS) : undefined }) : undefined
  // The Cron's health-check results come back with the breaker board the core pulls every 2 s: no extra call.
  if (store) store.onHealth = (states) => health.adopt(states)
  const gateway = createGateway({
    config: () => current,
    fetch: fetcher,
    log: consoleLogger,
    store,
    health,
    secrets: secretsOf(env),
  })
  instance = { gateway, health, store }
  return instance
}

function use(config: CompiledConfig, inst: NonNullable<typeof instance>) {
  current = config
  if (inst.seen !== config) {
    inst.seen = config
    inst.health.update(config.backends.values())
    // A fresh isolate (or config) learns what the last Cron found before its first request is routed: one call, once.
    const probed = [...config.backends.values()].some((b) => b.spec.healthCheck)
    const p = probed ? adoptShared(inst) : undefined
    inst.shared = p
    void p?.then(() => {
      if (inst.shared === p) inst.shared = undefined // later requests make no promise for it
    })
  }
}

/** The health-check results every isolate shares, taken into this one's monitor. */
async function adoptShared(inst: NonNullable<typeof instance>): Promise<void> {
  try {
    if (inst.store) inst.health.adopt(await inst.store.readHealth())
  } catch (err) {
    consoleLogger.warn('kortex: reading shared health checks failed', { error: err instanceof Error ? err.message : String(err) })
  }
}

/** The Cron's probes, counted on from the shared results (another isolate may have run the last Cron), then published. */
async function checkAndShare(inst: NonNullable<typeof instance>): Promise<void> {
  await adoptShared(inst)
  await inst.health.checkAll()
  await inst.store?.reportHealth(inst.health.shared()).catch((err: unknown) => {
    consoleLogger.warn('kortex: publishing health checks failed', { error: err instanceof Error ? err.message : String(err) })
  })
}

/** Once every promise in `pending` has settled, including those added meanwhile. */
async function settled(pending: Promise<unknown>[]): Promise<void> {
  for (let n = 0; n < pending.length; ) {
    const batch = pending.slice(n)
    n = pending.length
    await Promise.allSettled(batch)
  }
}

const handler = {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const r = await load(env, ctx)
    if (!r.ok) return errorResponse(r.error)
    const inst = gatewayFor(env)
    use(r.config, inst)
    if (inst.shared) await inst.shared
    const exporter = workerMetrics(env, fleetView(inst.gateway.fleet, () => current, inst.health))
    // Breaker trips are shared by the core through the store's board (a Durable Object), in the background.
    if (!exporter) return inst.gateway.fetch(request, { waitUntil: (p) => ctx.waitUntil(p) })
    // The request's metrics are recorded in its background work (a stream's when it ends): export after that.
    const pending: Promise<unknown>[] = []
    const response = await inst.gateway.fetch(request, { waitUntil: (p) => (pending.push(p), ctx.waitUntil(p)) })
    ctx.waitUntil(settled(pending).then(() => exporter.flush()).catch(() => {}))
    return response
  },

  /** The Cron Trigger: pull the controller's config, then probe every backend that has a health check. */
  async scheduled(_controller: unknown, env: Env, _ctx: ExecutionContext): Promise<void> {
    const pull = pullerFor(env)
    if (pull) {
      await pull.first
      pull.lastPull = Date.now()
      await pull.p.pullOnce()
    }
    const r = await load(env)
    if (!r.ok) return
    const inst = gatewayFor(env)
    use(r.config, inst)
    // Awaited: the event lasts until every isolate can read what it found.
    await checkAndShare(inst)
  },
}

const traceConfig: ResolveConfigFn<Env> = (env) => {
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT!.replace(/\/+$/, '')
  const headers = otlpHeaders(env.OTEL_EXPORTER_OTLP_HEADERS)
  return {
    exporter: { url: base.endsWith('/v1/traces') ? base : `${base}/v1/traces`, headers },
    service: { name: env.OTEL_SERVICE_NAME ?? 'kortex' },
  }
}
// instrument() replaces the methods of the object it is given: hand it a copy, so `handler` stays bare.
const traced = instrument({ ...handler } as never, traceConfig) as unknown as typeof handler
const tracing = (env: Env) => typeof env.OTEL_EXPORTER_OTLP_ENDPOINT === 'string' && env.OTEL_EXPORTER_OTLP_ENDPOINT !== ''

export default {
  fetch: (request: Request, env: Env, ctx: ExecutionContext): Promise<Response> => (tracing(env) ? traced : handler).fetch(request, env, ctx),
  scheduled: (controller: unknown, env: Env, ctx: ExecutionContext): Promise<void> => (tracing(env) ? traced : handler).scheduled(controller, env, ctx),
}
