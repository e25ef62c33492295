// The Cloudflare Workers entry: the same createGateway the Node server runs,
// fed from Worker bindings. Config comes from the KORTEX_CONFIG var (YAML or
// JSON text) or else the embedded demo config; secrets (apiKeySecret, keyEnv)
// are read from the Worker's string bindings; upstream calls use the
// Worker's own fetch. Durable Objects and the rest of the edge work come later.
import { createGateway, type Gateway } from '../../src/app.ts'
import { GatewayError, errorResponse } from '../../src/api/errors.ts'
import type { CompiledConfig } from '../../src/config/compile.ts'
import { DEFAULT_CONFIG_YAML } from '../../src/config/default.ts'
import { ConfigError } from '../../src/config/load.ts'
import { buildConfig } from '../../src/config/source.ts'
import { consoleLogger } from '../../src/telemetry/log.ts'

/** The bindings Kortex reads; any other string binding may hold a secret. */
export interface Env {
  /** The gateway config (multi-document YAML, or JSON); the embedded demo config when absent. */
  KORTEX_CONFIG?: string
  [binding: string]: unknown
}

/** The part of the Workers ExecutionContext the gateway uses. */
export interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void
  passThroughOnException?(): void
}

type Loaded = { ok: true; config: CompiledConfig } | { ok: false; error: GatewayError }

// Per isolate: the config compiled from the text last seen, and one gateway.
let loaded: { text: string; result: Promise<Loaded> } | undefined
let current: CompiledConfig | undefined
let gateway: Gateway | undefined

function load(env: Env): Promise<Loaded> {
  const text = typeof env.KORTEX_CONFIG === 'string' && env.KORTEX_CONFIG.trim() ? env.KORTEX_CONFIG : DEFAULT_CONFIG_YAML
  if (loaded?.text === text) return loaded.result
  const source = text === DEFAULT_CONFIG_YAML ? 'embedded demo config' : 'KORTEX_CONFIG'
  const secret = (name: string) => (typeof env[name] === 'string' ? (env[name] as string) : undefined)
  const result = buildConfig(text, secret, source).then(
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

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const r = await load(env)
    if (!r.ok) return errorResponse(r.error)
    current = r.config
    gateway ??= createGateway({ config: () => current, fetch: (input, init) => fetch(input, init), log: consoleLogger })
    return gateway.fetch(request, ctx)
  },
}
