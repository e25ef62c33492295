// Starts Kortex on Node: config (a watched file, or the embedded demo),
// the gateway, the HTTP server. The CLI and the tests both come through here.
import { createGateway, type ExecutionContext, type Gateway, type RunningGateway } from '../../src/app.ts'
import type { CompiledConfig } from '../../src/config/compile.ts'
import { DEFAULT_CONFIG_YAML } from '../../src/config/default.ts'
import { buildConfig } from '../../src/config/source.ts'
import { ConfigError } from '../../src/config/load.ts'
import type { FetchLike } from '../../src/providers/types.ts'
import type { Logger } from '../../src/telemetry/log.ts'
import { HealthMonitor } from '../../src/resilience/health.ts'
import type { RedisStore } from '../redis/store.ts'
import { watchConfigFile } from './config-file.ts'
import { stdoutLogger } from './log.ts'
import { listen, type RunningServer } from './server.ts'
import { serverLimits, type ServerLimits } from './server-limits.ts'
import { createUpstreamFetch } from './upstream-fetch.ts'
import { liteAborter } from './abort.ts'
import { drainMs, type Drained } from './drain.ts'
import { startMetrics } from './metrics.ts'
import { startOtel } from './otel.ts'
import { fleetView } from '../../src/telemetry/fleet-view.ts'
import type { FleetView } from '../../src/telemetry/metrics.ts'
import { packageRanks } from '../../src/usage/package-ranks.ts'
import { useRankSource } from '../../src/usage/tokens.ts'
import { readFile } from 'node:fs/promises'
import { setWebIdentityTokenReader } from '../../src/providers/bedrock/credentials.ts'

// Exact token counts load the tokenizer's tables from the js-tiktoken package, on first use.
useRankSource(packageRanks)
// Bedrock on EKS (IRSA): the web-identity token file EKS mounts, read afresh at each STS exchange.
setWebIdentityTokenReader((path) => readFile(path, 'utf8'))

export interface StartOptions {
  /** A config file to serve and watch; the embedded demo config when absent. */
  configPath?: string
  /** The config's own text (KORTEX_CONFIG_YAML), instead of a file. */
  configText?: string
  port?: number
  host?: string
  log?: Logger
  fetch?: FetchLike
  /** Where human-readable notices go (config reloads, refusals). */
  notice?: (line: string) => void
  /** Pull the config from the Kortex controller's GET /config instead of a file (listening at once, not ready until the first one). */
  configUrl?: string
  /** Bearer token for configUrl. */
  configToken?: string
  /** Long-poll window for configUrl, seconds (default 30). */
  configWaitSeconds?: number
  /** Deadlines for slow clients and the connection cap; each defaults to its KORTEX_* variable, else server-limits.ts. */
  server?: Partial<ServerLimits>
  /** How long a shutdown lets requests in flight finish, seconds (default KORTEX_DRAIN_SECONDS, else 20). */
  drainSeconds?: number
  /** Run the Kubernetes controller in this process and follow it (one Deployment for small clusters). */
  controller?: { port?: number; host?: string; tokens?: string[]; namespace?: string }
}

export interface Kortex extends RunningServer {
  /** The config in force; undefined until a pulled one first arrives. */
  config(): CompiledConfig | undefined
  /** Resolves once the gateway has its first config and serves with it. */
  ready: Promise<void>
  /** The metrics listener, when KORTEX_METRICS_PORT gives it a port of its own. */
  metricsUrl?: string
  usingDefaultConfig: boolean
  /** The drain deadline a shutdown signal uses (ms). */
  drainMs: number
}

export async function startKortex(opts: StartOptions = {}): Promise<Kortex> {
  const notice = opts.notice ?? ((line: string) => console.error(line))
  const limits = serverLimits(opts.server, process.env)
  const drainDeadline = drainMs(opts.drainSeconds, process.env)
  // OTLP export (OTEL_EXPORTER_OTLP_*): installed before the gateway so its first request is traced.
  const otel = await startOtel(process.env, notice)
  const log = opts.log ?? stdoutLogger()
  const fetch = opts.fetch ?? createUpstreamFetch()
  // Our undici fetch takes the cheap attempt signals (abort.ts); a fetch given by the caller gets AbortControllers.
  const aborter = opts.fetch ? undefined : liteAborter
  // Active health checks run on Node timers, for backends whose config asks for them.
  const health = new HealthMonitor({ fetch, log })
  let current: () => CompiledConfig | undefined
  // Resolves with the first config; a pulled one may come later (the port is open meanwhile, not ready).
  let first: Promise<unknown> = Promise.resolve()
  let stopWatching = () => {}
  let configUrl = opts.configUrl
  let configToken = opts.configToken
  let stopController = async () => {}
  if (opts.controller && !configUrl) {
    // The embedded controller serves on loopback (or the given port, for edges too); the gateway follows it like any other.
    const { embedController } = await import('./controller-embed.ts')
    const c = await embedController(opts.controller, notice)
    ;({ url: configUrl, token: configToken } = c)
    stopController = c.stop
  }
  if (configUrl) {
    let lastFailure = { line: '', at: 0 }
    const followed = (await import('./config-pull.ts')).followController({
      url: configUrl,
      token: configToken,
      waitSeconds: opts.configWaitSeconds,
      secrets: (n) => process.env[n],
      loaded: (c, version) => {
        health.update(c.backends.values())
        notice(`kortex: config ${version} from ${configUrl}: ${c.routes.length} routes, ${c.backends.size} backends`)
        for (const w of c.warnings) notice(`kortex: warning: ${w}`)
      },
      failed: (err, has) => {
        const line = `kortex: pulling ${configUrl} failed${has ? '; the running config stays' : '; not ready until it answers; retrying'}: ${err instanceof ConfigError ? err.message : String((err as Error)?.message ?? err)}`
        // The same failure again (a controller down for minutes) is said once a minute.
        if (line === lastFailure.line && Date.now() - lastFailure.at < 60_000) return
        lastFailure = { line, at: Date.now() }
        notice(line)
      },
    })
    current = followed.current
    first = followed.ready
    stopWatching = followed.close
  } else if (opts.configPath) {
    const watched = await watchConfigFile(opts.configPath, {
      loaded: (c) => {
        health.update(c.backends.values())
        notice(`kortex: reloaded ${opts.configPath}: ${c.routes.length} routes, ${c.backends.size} backends`)
        for (const w of c.warnings) notice(`kortex: warning: ${w}`)
      },
      refused: (err) =>
        notice(`kortex: refused the new ${opts.configPath}; the running config stays.\n${err instanceof Error ? err.message : String(err)}`),
    })
    current = watched.current
    stopWatching = watched.close
    for (const w of watched.current().warnings) notice(`kortex: warning: ${w}`)
  } else {
    const c = await buildConfig(opts.configText ?? DEFAULT_CONFIG_YAML, (n) => process.env[n], opts.configText ? 'KORTEX_CONFIG_YAML' : 'embedded demo config')
    for (const w of opts.configText ? c.warnings : []) notice(`kortex: warning: ${w}`)
    current = () => c
  }
  // The controller's tokens unlock /config (every provider key): masked like the config's own secrets.
  const secretValues = () => [configToken, ...(opts.controller?.tokens ?? [])]
  let gateway: RunningGateway | undefined
  let store: RedisStore | undefined
  // The gateway needs its first config (which names the state store): until then, one without
  // a config answers (/healthz 200, /readyz 503, every other request a 503 not_ready).
  const front: Pick<Gateway, 'fetch'> = createGateway({ config: () => undefined, fetch, log, secretValues })
  const start = async () => {
    const config = current()!
    health.update(config.backends.values())
    store = await stateStore(config, log, notice)
    // Serve once Redis answers (or after 2 s, failing open or closed per limit until it does).
    await store?.ready(2000).catch(() => {})
    gateway = createGateway({ config: current, fetch, log, health, store, secrets: (n) => process.env[n], secretValues, aborter })
    view = fleetView(gateway.fleet, current, health)
    front.fetch = gateway.fetch
  }
  // GET /metrics (KORTEX_METRICS_*), on this port or its own; the fleet's gauges once the gateway runs.
  let view: FleetView | undefined
  const metrics = await startMetrics(front, { backends: () => view?.backends() ?? [], routes: () => view?.routes() ?? [] }, opts.host ?? '127.0.0.1', process.env, otel)
  // The server's own refusals (a request it cannot parse) go where the gateway's go.
  const served = { fetch: (r: Request, c?: Partial<ExecutionContext>) => metrics.gateway.fetch(r, c), refused: (status: number, code: string, message: string) => gateway?.refused(status, code, message) }
  let server: RunningServer
  let ready: Promise<void>
  if (current()) {
    await start()
    server = await listen(served, opts.port ?? 8080, opts.host ?? '127.0.0.1', limits)
    ready = Promise.resolve()
  } else {
    server = await listen(served, opts.port ?? 8080, opts.host ?? '127.0.0.1', limits)
    ready = first.then(start)
  }
  let closing: Promise<Drained> | undefined
  return {
    ...server,
    metricsUrl: metrics.url,
    config: current,
    ready,
    usingDefaultConfig: !opts.configPath && !configUrl && !opts.configText,
    drainMs: drainDeadline,
    close: (drainMs = 0) => {
      if (closing) {
        void server.close(0) // a second call ends the drain now
        return closing
      }
      return (closing = (async () => {
        // Requests in flight finish first, on the config, store and health checks they started with.
        const drained = await server.close(drainMs)
        stopWatching()
        await stopController()
        health.stop()
        await metrics.close()
        // Spans and metrics still buffered go to the collector.
        await otel?.shutdown()
        // What the gateway gathered for later (spend aggregates, the cost sink's queue) goes out before the store closes.
        await gateway?.flush().catch((err) => log.error('kortex: writing spend or cost records at shutdown failed', { error: err instanceof Error ? err.message : String(err) }))
        await store?.close()
        return drained
      })())
    },
  }
}

/** The state store the config names at start-up: Redis for fleets, else in memory (the gateway's default). */
async function stateStore(config: CompiledConfig, log: Logger, notice: (line: string) => void): Promise<RedisStore | undefined> {
  const s = config.gateway.state
  if (s.store !== 'redis') return undefined
  const url = process.env[s.urlEnv] ?? 'redis://127.0.0.1:6379'
  // The Redis client (~10 MB of RSS) loads only for configs that use it (the build keeps it in its own chunk).
  const { RedisStore } = await import('../redis/store.ts')
  return new RedisStore({
    url,
    timeoutMs: s.timeoutMs,
    prefix: s.prefix,
    onStatus: (up, detail) => (up ? notice(`kortex: state store: ${detail}`) : log.error('kortex: state store unreachable; limits fail open or closed as configured', { detail })),
  })
}
