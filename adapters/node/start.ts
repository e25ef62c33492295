// Starts Kortex on Node: config (a watched file, or the embedded demo),
// the gateway, the HTTP server. The CLI and the tests both come through here.
import { createGateway } from '../../src/app.ts'
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
import { startMetrics } from './metrics.ts'
import { fleetView } from '../../src/telemetry/fleet-view.ts'

export interface StartOptions {
  /** A config file to serve and watch; the embedded demo config when absent. */
  configPath?: string
  port?: number
  host?: string
  log?: Logger
  fetch?: FetchLike
  /** Where human-readable notices go (config reloads, refusals). */
  notice?: (line: string) => void
  /** Pull the config from the Kortex controller's GET /config instead of a file (waits for the first one). */
  configUrl?: string
  /** Bearer token for configUrl. */
  configToken?: string
  /** Long-poll window for configUrl, seconds (default 30). */
  configWaitSeconds?: number
  /** Deadlines for slow clients and the connection cap; each defaults to its KORTEX_* variable, else server-limits.ts. */
  server?: Partial<ServerLimits>
  /** Run the Kubernetes controller in this process and follow it (one Deployment for small clusters). */
  controller?: { port?: number; host?: string; tokens?: string[]; namespace?: string }
}

export interface Kortex extends RunningServer {
  config(): CompiledConfig
  /** The metrics listener, when KORTEX_METRICS_PORT gives it a port of its own. */
  metricsUrl?: string
  usingDefaultConfig: boolean
}

export async function startKortex(opts: StartOptions = {}): Promise<Kortex> {
  const notice = opts.notice ?? ((line: string) => console.error(line))
  const limits = serverLimits(opts.server, process.env)
  const log = opts.log ?? stdoutLogger()
  const fetch = opts.fetch ?? createUpstreamFetch()
  // Our undici fetch takes the cheap attempt signals (abort.ts); a fetch given by the caller gets AbortControllers.
  const aborter = opts.fetch ? undefined : liteAborter
  // Active health checks run on Node timers, for backends whose config asks for them.
  const health = new HealthMonitor({ fetch, log })
  let current: () => CompiledConfig
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
    const followed = await (await import('./config-pull.ts')).followController({
      url: configUrl,
      token: configToken,
      waitSeconds: opts.configWaitSeconds,
      secrets: (n) => process.env[n],
      loaded: (c, version) => {
        health.update(c.backends.values())
        notice(`kortex: config ${version} from ${configUrl}: ${c.routes.length} routes, ${c.backends.size} backends`)
        for (const w of c.warnings) notice(`kortex: warning: ${w}`)
      },
      failed: (err, has) => notice(`kortex: pulling ${configUrl} failed${has ? '; the running config stays' : '; retrying'}: ${err instanceof ConfigError ? err.message : String((err as Error)?.message ?? err)}`),
    })
    current = followed.current
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
    const c = await buildConfig(DEFAULT_CONFIG_YAML, (n) => process.env[n], 'embedded demo config')
    current = () => c
  }
  health.update(current().backends.values())
  const store = await stateStore(current(), log, notice)
  // Serve once Redis answers (or after 2 s, failing open or closed per limit until it does).
  await store?.ready(2000).catch(() => {})
  // The controller's tokens unlock /config (every provider key): masked like the config's own secrets.
  const secretValues = () => [configToken, ...(opts.controller?.tokens ?? [])]
  const gateway = createGateway({ config: current, fetch, log, health, store, secrets: (n) => process.env[n], secretValues, aborter })
  // GET /metrics (KORTEX_METRICS_*), on this port or its own.
  const metrics = await startMetrics(gateway, fleetView(gateway.fleet, current, health), opts.host ?? '127.0.0.1')
  const server = await listen(metrics.gateway, opts.port ?? 8080, opts.host ?? '127.0.0.1', limits)
  return {
    ...server,
    metricsUrl: metrics.url,
    config: current,
    usingDefaultConfig: !opts.configPath && !configUrl,
    close: async () => {
      stopWatching()
      await stopController()
      health.stop()
      await server.close()
      await metrics.close()
      // What the gateway gathered for later (spend aggregates, the cost sink's queue) goes out before the store closes.
      await gateway.flush().catch((err) => log.error('kortex: writing spend or cost records at shutdown failed', { error: err instanceof Error ? err.message : String(err) }))
      await store?.close()
    },
  }
}

/** The state store the config names at start-up: Redis for fleets, else in memory (the gateway's default). */
async function stateStore(config: CompiledConfig, log: Logger, notice: (line: string) => void): Promise<RedisStore | undefined> {
  const s = config.gateway.state
  if (s.store !== 'redis') return undefined
  const url = process.env[s.urlEnv] ?? 'redis://127.0.0.1:6379'
  // The Redis client (~10 MB of RSS) loads only for configs that use it (bin/kortex.js keeps it in its own chunk).
  const { RedisStore } = await import('../redis/store.ts')
  return new RedisStore({
    url,
    timeoutMs: s.timeoutMs,
    prefix: s.prefix,
    onStatus: (up, detail) => (up ? notice(`kortex: state store: ${detail}`) : log.error('kortex: state store unreachable; limits fail open or closed as configured', { detail })),
  })
}
