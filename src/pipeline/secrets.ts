// Secrets are masked wherever an upstream may quote them back (it may echo our key). Warnings
// get every secret of the config in force. What a client sees gets the gateway's own secrets and
// those of the backends its route can reach: a backend's secrets are its tenant's to choose, and
// one set to a common phrase must not garble other tenants' errors.
import type { Backend, CompiledConfig, Route } from '../config/compile.ts'
import { GatewayError } from '../api/errors.ts'
import { Scrubber } from '../telemetry/scrub.ts'
import type { Logger } from '../telemetry/log.ts'

/** Where the runtime's own secrets come from (GatewayDeps' secrets and secretValues). */
export interface SecretSources {
  secrets?: (name: string) => string | undefined
  secretValues?: () => Iterable<string | undefined>
}

/** One scrubber per owner (a config, its backends, a route), built on first use. */
export class Scrubbers {
  private readonly made = new WeakMap<object, Scrubber>()
  constructor(private readonly sources: SecretSources) {}

  private of(owner: object, values: () => Iterable<string | undefined>): Scrubber {
    let s = this.made.get(owner)
    if (!s) this.made.set(owner, (s = new Scrubber(values)))
    return s
  }

  /** The gateway's own secrets only: for errors no upstream had a word in. */
  gateway(config: CompiledConfig | undefined): Scrubber {
    return this.of(config ?? this.sources, () => gatewaySecrets(config, this.sources))
  }

  /** Every secret of the config: for warnings. */
  all(config: CompiledConfig | undefined): Scrubber {
    return config ? this.of(config.backends, () => secretsOf(config.backends.values(), config, this.sources)) : this.gateway(config)
  }

  /** The secrets of the backends a route can reach, and the gateway's: for what its clients see. */
  route(config: CompiledConfig, route: Route): Scrubber {
    return this.of(route, () => secretsOf(route.backends.values(), config, this.sources))
  }
}

/** The backends' secrets (provider keys, header values) and the gateway's. */
function* secretsOf(backends: Iterable<Backend>, config: CompiledConfig, sources: SecretSources): Iterable<string | undefined> {
  for (const b of backends) {
    yield b.apiKey
    yield* Object.values(b.headers)
  }
  yield* gatewaySecrets(config, sources)
}

/** The gateway's own secrets: the cost sink's token, and the runtime's (the controller token). */
function* gatewaySecrets(config: CompiledConfig | undefined, sources: SecretSources): Iterable<string | undefined> {
  const env = config?.gateway.cost.sink?.tokenEnv
  if (env) yield sources.secrets?.(env)
  if (sources.secretValues) yield* sources.secretValues()
}

/** The error with any secret in its message, code or param masked (a new one only when something was). */
export function scrubError(err: GatewayError, s: Scrubber): GatewayError {
  const message = s.scrub(err.message)
  const code = err.code && s.scrub(err.code)
  const param = err.param && s.scrub(err.param)
  if (message === err.message && code === err.code && param === err.param) return err
  const clean = new GatewayError(err.status, message, err.type, code, param, err.headers)
  clean.upstreamStatus = err.upstreamStatus
  return clean
}

/** Warnings and errors with secrets masked in their fields; records (the access log) are scrubbed where they are built. */
export function scrubbingLogger(log: Logger, scrubber: () => Scrubber): Logger {
  return {
    record: (rec) => log.record(rec),
    warn: (message, fields) => log.warn(scrubber().scrub(message), fields && scrubber().fields(fields)),
    error: (message, fields) => log.error(scrubber().scrub(message), fields && scrubber().fields(fields)),
  }
}
