// The ConfigSource every runtime can use: pull the compiled config from the
// controller's GET /config with an ETag. 304 keeps what we have; a new
// document is validated and compiled whole before it replaces the running
// config (atomically: one reference swap); a failure of any kind keeps the
// last good config and retries with backoff and jitter. With `waitSeconds`
// the controller holds the request until something changes (long poll), so
// edges learn of changes within seconds. Every pull has a deadline (the
// long poll's window plus a margin): a controller that goes away without
// closing the connection is noticed, not waited on for minutes.
//
// The document: {"kind":"KortexConfig","version":"<hash>","resources":[...],
// "secrets":{"team-a/openai-credentials/api-key":"..."}} — resources are the
// same objects a config file holds; secrets are what the controller resolved
// from Kubernetes Secrets, keyed namespace/name/key. A backend gets only its
// own namespace's Secret: never another namespace's, never this runtime's
// environment (which holds the controller token).
import { clusterSecretKey, compileConfig, type CompiledConfig, type SecretLookup } from './compile.ts'
import { ConfigError, parseConfigText } from './load.ts'
import { recordConfigLoad } from '../telemetry/metrics.ts'
import { ConfigRefused, guardConfig, shapeOf, type ConfigShape } from './guard.ts'
import type { FetchLike } from '../providers/types.ts'

export interface ConfigDocument {
  kind: 'KortexConfig'
  version: string
  resources: unknown[]
  secrets?: Record<string, string>
}

export interface PullOptions {
  url: string
  /** Bearer token for the controller. */
  token?: string
  fetch: FetchLike
  /** The gateway's own settings the GatewayConfig names (keyEnv), from the environment or Worker bindings; never a backend's key. */
  secrets: SecretLookup
  /** Between pulls when not long-polling, and the base of the backoff. */
  intervalMs?: number
  /** Ask the controller to hold the request up to this long for a change. */
  waitSeconds?: number
  /** The deadline of a pull without a long poll, and the margin past the window of one (default 10 s). */
  timeoutMs?: number
  maxBackoffMs?: number
  random?: () => number
  onUpdate?: (config: CompiledConfig, version: string) => void
  onError?: (err: unknown) => void
}

export type PullResult = 'updated' | 'unchanged' | 'failed'

export class ConfigPuller {
  #config: CompiledConfig | undefined
  #shape: ConfigShape | undefined
  #etag: string | undefined
  #failures = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #stopped = true
  #abort: AbortController | undefined
  version: string | undefined

  constructor(private readonly o: PullOptions) {}

  current(): CompiledConfig | undefined {
    return this.#config
  }

  /** One pull. Never throws: a failure keeps the last good config. */
  async pullOnce(signal?: AbortSignal): Promise<PullResult> {
    const longPoll = !!(this.o.waitSeconds && this.#etag)
    const margin = this.o.timeoutMs ?? 10_000
    const deadline = longPoll ? this.o.waitSeconds! * 1000 + margin : margin
    const ctrl = new AbortController()
    const stop = () => ctrl.abort(signal!.reason)
    signal?.addEventListener('abort', stop)
    const timer = setTimeout(() => ctrl.abort(new Error(`the controller did not answer within ${deadline / 1000} s`)), deadline)
    try {
      return await this.#pull(longPoll, ctrl.signal)
    } catch (err) {
      if (signal?.aborted) return 'failed'
      this.#failures++
      // A config the gateway would not take is a refused reload; a controller out of reach is not.
      if (err instanceof ConfigError || err instanceof ConfigRefused) recordConfigLoad('refused')
      this.o.onError?.(ctrl.signal.aborted ? ctrl.signal.reason : withCause(err))
      return 'failed'
    } finally {
      clearTimeout(timer)
      signal?.removeEventListener('abort', stop)
    }
  }

  async #pull(longPoll: boolean, signal: AbortSignal): Promise<PullResult> {
    const url = new URL(this.o.url)
    if (longPoll) url.searchParams.set('wait', String(this.o.waitSeconds))
    const headers: Record<string, string> = { accept: 'application/json' }
    if (this.#etag) headers['if-none-match'] = this.#etag
    if (this.o.token) headers.authorization = `Bearer ${this.o.token}`
    const res = await this.o.fetch(url.href, { headers, signal })
    if (res.status === 304) {
      await res.body?.cancel()
      this.#failures = 0
      return 'unchanged'
    }
    if (!res.ok) {
      // Its first line says why (no config compiled yet, a wrong token).
      const why = (await res.text().catch(() => '')).trim().split('\n')[0]!.slice(0, 200)
      throw new Error(`the controller answered HTTP ${res.status}${why ? `: ${why}` : ''}`)
    }
    const doc = (await res.json()) as ConfigDocument
    if (!doc || doc.kind !== 'KortexConfig' || !Array.isArray(doc.resources)) throw new Error('the controller sent something that is not a KortexConfig document')
    const version = doc.version ?? res.headers.get('etag') ?? ''
    const secrets: Record<string, string> = Object.assign(Object.create(null), doc.secrets)
    const text = doc.resources.map((r) => JSON.stringify(r)).join('\n---\n')
    const config = await compileConfig(parseConfigText(text, `controller config ${version}`), this.o.secrets, `controller config ${version}`, (ns, ref) => secrets[clusterSecretKey(ns, ref)])
    // Once a config runs, one that drops every route, backend or the GatewayConfig is refused (guard.ts).
    const shape = this.#config ? guardConfig(this.#shape, doc.resources, `controller config ${version}`) : shapeOf(doc.resources)
    recordConfigLoad(this.#config ? 'applied' : 'initial')
    this.#config = config
    this.#shape = shape
    this.#etag = res.headers.get('etag') ?? undefined
    this.version = version
    this.#failures = 0
    this.o.onUpdate?.(config, version)
    return 'updated'
  }

  /** Pulls until stop(): right after a change or a long poll, after the interval otherwise, backing off after failures. */
  start(): void {
    if (!this.#stopped) return
    this.#stopped = false
    const loop = async () => {
      if (this.#stopped) return
      this.#abort = new AbortController()
      const r = await this.pullOnce(this.#abort.signal)
      if (this.#stopped) return
      this.#timer = setTimeout(loop, this.delayAfter(r))
    }
    void loop()
  }

  /** How long to wait before the next pull. */
  delayAfter(r: PullResult): number {
    const base = this.o.intervalMs ?? 10_000
    if (r === 'failed') {
      const cap = Math.min(this.o.maxBackoffMs ?? 60_000, base * 2 ** Math.min(this.#failures - 1, 10))
      return cap / 2 + (this.o.random ?? Math.random)() * (cap / 2)
    }
    return this.o.waitSeconds ? 0 : base
  }

  stop(): void {
    this.#stopped = true
    if (this.#timer) clearTimeout(this.#timer)
    this.#abort?.abort()
  }
}

/**
 * A fetch error with what caused it: Node's fetch says only "fetch failed",
 * and the cause (connect ECONNREFUSED 10.0.0.5:8081, getaddrinfo ENOTFOUND
 * kortex-controller.kortex.svc) is what an operator can act on.
 */
export function withCause(err: unknown): unknown {
  if (!(err instanceof Error) || !(err.cause instanceof Error)) return err
  const c = err.cause as Error & { code?: string; errors?: unknown[] }
  const detail = c.message || c.errors?.map((e) => (e instanceof Error ? e.message : String(e))).join('; ') || c.code
  return detail ? new Error(`${err.message}: ${detail}`, { cause: c }) : err
}
