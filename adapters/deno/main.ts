// Kortex on Deno (and Deno Deploy): Deno.serve in front of the same
// createGateway the other runtimes run. Nothing is read from the file system
// at run time:
// - Config, in order: the controller's config endpoint (KORTEX_CONFIG_URL,
//   bearer KORTEX_CONFIG_TOKEN; pulled with ETag, long-polled, last good
//   config kept), else KORTEX_CONFIG_YAML (the YAML or JSON text itself), or
//   KORTEX_CONFIG_FILE (a path; needs --allow-read, read once), else the
//   embedded demo config. KORTEX_CONFIG, the older name, is the text here;
//   a path in it is refused with the variable to use (src/config/env.ts).
// - Secrets (apiKeySecret, keyEnv) from environment variables.
// - State in Redis when the config says `state: { store: redis }` (its URL in
//   the variable the config names, REDIS_URL by default; node-redis runs on
//   Deno), else in memory.
// - PORT (default 8000) and HOST (default 0.0.0.0 on Deploy, 127.0.0.1 here).
//
// Run: deno run --config adapters/deno/deno.json --allow-net --allow-env adapters/deno/main.ts
import { createGateway } from '../../src/app.ts'
import type { CompiledConfig } from '../../src/config/compile.ts'
import { DEFAULT_CONFIG_YAML } from '../../src/config/default.ts'
import { ConfigError } from '../../src/config/load.ts'
import { ConfigEnvError, configFromEnv } from '../../src/config/env.ts'
import { ConfigPuller } from '../../src/config/pull.ts'
import { buildConfig } from '../../src/config/source.ts'
import { HealthMonitor } from '../../src/resilience/health.ts'
import type { StateStore } from '../../src/state/store.ts'
import { consoleLogger } from '../../src/telemetry/log.ts'
import { RedisStore } from '../redis/store.ts'
import { isMetricsRequest, metricsSettings } from '../metrics/settings.ts'
import { fleetView } from '../../src/telemetry/fleet-view.ts'
import { packageRanks } from '../../src/usage/package-ranks.ts'
import { useRankSource } from '../../src/usage/tokens.ts'
import { otlpSettings } from '../otel/settings.ts'
import { metrics } from '@opentelemetry/api'

declare const Deno: {
  env: { get(name: string): string | undefined }
  readTextFile(path: string): Promise<string>
  serve(
    opts: { port: number; hostname: string; onListen?: (addr: { hostname: string; port: number }) => void },
    handler: (req: Request) => Response | Promise<Response>,
  ): { finished: Promise<void>; shutdown(): Promise<void> }
  addSignalListener?(signal: string, fn: () => void): void
  exit(code: number): never
}

const env = (name: string) => Deno.env.get(name)
const log = consoleLogger
// With OTEL_DENO=true Deno traces each fetch itself (a span inside the attempt's) and sends that
// span's traceparent: the gateway's own would go too, twice in one header.
const denoTraces = /^(true|1)$/i.test(env('OTEL_DENO') ?? '')
const fetcher = denoTraces
  ? (input: RequestInfo | URL, init?: RequestInit) => fetch(input, init?.headers ? { ...init, headers: untraced(init.headers) } : init)
  : (input: RequestInfo | URL, init?: RequestInit) => fetch(input, init)

function untraced(h: HeadersInit): Headers {
  const out = new Headers(h)
  out.delete('traceparent')
  out.delete('tracestate')
  return out
}

/** The config the environment names (its text and where it came from), or undefined. */
async function local(): Promise<{ text: string; from: string } | undefined> {
  const named = configFromEnv(env, { files: true })
  if (!named || 'text' in named) return named
  try {
    return { text: await Deno.readTextFile(named.file), from: named.file }
  } catch (err) {
    const denied = (err as Error).name === 'PermissionDenied' || (err as Error).name === 'NotCapable'
    throw new Error(denied ? `reading ${named.file} (${named.from}) needs --allow-read=${named.file}` : `${named.from}: ${(err as Error).message}`)
  }
}

async function loadConfig(): Promise<() => CompiledConfig | undefined> {
  const url = env('KORTEX_CONFIG_URL')
  const named = await local()
  if (!url) {
    const c = await buildConfig(named?.text ?? DEFAULT_CONFIG_YAML, env, named?.from ?? 'embedded demo config')
    return () => c
  }
  const puller = new ConfigPuller({
    url,
    token: env('KORTEX_CONFIG_TOKEN'),
    fetch: fetcher,
    secrets: env,
    intervalMs: Number(env('KORTEX_CONFIG_REFRESH_SECONDS') ?? 10) * 1000,
    waitSeconds: env('KORTEX_CONFIG_WAIT_SECONDS') ? Number(env('KORTEX_CONFIG_WAIT_SECONDS')) : undefined,
    onUpdate: (_c, version) => log.warn('kortex: config pulled from the controller', { version }),
    onError: (err) => log.error('kortex: config pull failed; the last good config stays', { error: err instanceof Error ? err.message : String(err) }),
  })
  await puller.pullOnce()
  puller.start()
  // Until the controller first answers: the local config if set (never the demo config in its place; /readyz says 503 meanwhile).
  const before = puller.current() || !named ? undefined : await buildConfig(named.text, env, named.from).catch(() => undefined)
  return () => puller.current() ?? before
}

let config: () => CompiledConfig | undefined
try {
  config = await loadConfig()
} catch (err) {
  console.error(err instanceof ConfigError || err instanceof ConfigEnvError ? err.message : `kortex: ${err instanceof Error ? err.message : String(err)}`)
  Deno.exit(1)
}

// OTLP export (OTEL_EXPORTER_OTLP_*) through the OpenTelemetry SDK, as on Node. With OTEL_DENO=true,
// Deno exports the spans itself (with its own server and fetch spans around the gateway's); the
// metrics still go through the SDK here, which alone has Kortex's GenAI histograms.
const otlp = otlpSettings(env)
for (const w of otlp.warnings) console.error(`kortex: ${w}`)
if (denoTraces) otlp.traces = undefined
const otel = otlp.traces || otlp.metrics ? await (await import('../otel/sdk.ts')).installOtel(otlp) : undefined

const first = config()
let store: StateStore | undefined
if (first?.gateway.state.store === 'redis') {
  const s = first.gateway.state
  const redis = new RedisStore({
    url: env(s.urlEnv) ?? 'redis://127.0.0.1:6379',
    timeoutMs: s.timeoutMs,
    prefix: s.prefix,
    onStatus: (up, detail) => (up ? log.warn('kortex: state store up', { detail }) : log.error('kortex: state store unreachable; limits fail open or closed as configured', { detail })),
  })
  await redis.ready(2000).catch(() => {})
  store = redis
}

const health = new HealthMonitor({ fetch: fetcher, log })
let seen: CompiledConfig | undefined
const current = () => {
  const c = config()
  if (c && c !== seen) {
    seen = c
    health.update(c.backends.values())
  }
  return c
}
current()
// Exact token counts load the tokenizer's tables from the js-tiktoken package, on first use.
useRankSource(packageRanks)
const gateway = createGateway({ config: current, fetch: fetcher, log, store, health, secrets: env })

// Deno has no waitUntil: work after the response runs on; keep it for a clean shutdown.
const pending = new Set<Promise<unknown>>()
const ctx = {
  waitUntil(p: Promise<unknown>) {
    pending.add(p)
    void p.finally(() => pending.delete(p))
  },
}

// GET /metrics (KORTEX_METRICS, KORTEX_METRICS_PATH, KORTEX_METRICS_PORT), as on Node.
const hostname = env('HOST') ?? (env('DENO_DEPLOYMENT_ID') ? '0.0.0.0' : '127.0.0.1')
const ms = metricsSettings(env)
const view = fleetView(gateway.fleet, current, health)
const exposition = ms.enabled ? (await import('../metrics/prometheus.ts')).installExposition({ readers: otel?.metricReader && [otel.metricReader], resource: otel?.resource }) : undefined
exposition?.observe(view)
const meterProvider = exposition?.provider ?? (otel && (await import('../otel/sdk.ts')).installOtlpMeter(otel, view))
// Deno's OpenTelemetry (OTEL_DENO=true) holds the API's globals under its own version (1.999.999),
// which refuses any other registration: its meter provider has neither the Prometheus reader nor
// Kortex's GenAI histograms, so ours takes its place where the API reads it.
if (denoTraces && meterProvider) {
  const api = (globalThis as unknown as Record<symbol, Record<string, unknown> | undefined>)[Symbol.for('opentelemetry.js.api.1')]
  if (api && metrics.getMeterProvider() !== meterProvider) api.metrics = meterProvider
}
const scrape = (req: Request) => exposition!.respond(req.headers.get('accept'))
const onMain = exposition !== undefined && ms.port === undefined
if (exposition && ms.port !== undefined) {
  Deno.serve(
    { port: ms.port, hostname, onListen: ({ hostname, port }) => console.error(`kortex: metrics on http://${hostname}:${port}${ms.path}`) },
    (req) => (isMetricsRequest(req, ms.path) ? scrape(req) : new Response(`Metrics are at ${ms.path}\n`, { status: 404 })),
  )
}

const server = Deno.serve(
  {
    port: Number(env('PORT') ?? 8000),
    hostname,
    onListen: ({ hostname, port }) => console.error(`kortex: listening on http://${hostname}:${port}`),
  },
  (req) => (onMain && isMetricsRequest(req, ms.path) ? scrape(req) : gateway.fetch(req, ctx)),
)

for (const sig of ['SIGTERM', 'SIGINT']) {
  try {
    Deno.addSignalListener?.(sig, async () => {
      await server.shutdown()
      await Promise.allSettled([...pending])
      await otel?.shutdown()
      health.stop()
      await (store as RedisStore | undefined)?.close?.()
      Deno.exit(0)
    })
  } catch {
    // Deno Deploy has no signals.
  }
}
