// Active health checks, for backends that ask for them (`healthCheck`).
// A probe is a GET on an endpoint that costs nothing — a models list, KServe
// readiness — never a completion. A backend turns unhealthy after
// `failureThreshold` failed probes in a row and healthy again after
// `healthyThreshold` good ones; each change is logged once.
import type { Backend } from '../config/compile.ts'
import { anthropicHeaders } from '../providers/anthropic/index.ts'
import { openAIHeaders } from '../providers/openai/index.ts'
import { modelsListUrl } from '../providers/gemini/transport.ts'
import type { FetchLike } from '../providers/types.ts'
import type { Logger } from '../telemetry/log.ts'

export type Health = 'healthy' | 'unhealthy' | 'unknown'

export interface Probe {
  url: string
  init: RequestInit & { headers: Record<string, string> }
  /** Reads the answer; absent: any 2xx is healthy. */
  ok?: (res: Response) => Promise<boolean>
}

const UNPROBED: ReadonlySet<string> = new Set(['bedrock', 'vertex'])

/** How to probe a backend for free; undefined for demo backends (always healthy). */
export function probeFor(backend: Backend): Probe | undefined {
  // Bedrock and Vertex AI take signed or OAuth requests this probe does not make: probed only on a healthCheck.path.
  if (backend.provider === 'demo' || (UNPROBED.has(backend.provider) && !backend.spec.healthCheck?.path)) return undefined
  const init = { method: 'GET', headers: probeHeaders(backend) }
  const path = backend.spec.healthCheck?.path
  if (path) return { url: joinPath(backend.rootUrl, path), init, ok: readyBody(false) }
  switch (backend.provider) {
    case 'kserve': {
      const protocol = backend.spec.kserve?.protocol ?? 'openai'
      if (protocol === 'v2') return { url: `${backend.rootUrl}/v2/health/ready`, init, ok: readyBody(false) }
      // V1 answers {"name": ..., "ready": true|false}.
      if (protocol === 'v1') return { url: `${backend.rootUrl}/v1/models/${encodeURIComponent(backend.model ?? backend.name)}`, init, ok: readyBody(true) }
      return { url: `${backend.baseUrl}/models`, init }
    }
    case 'anthropic':
    case 'cohere':
      return { url: `${backend.baseUrl}/v1/models`, init }
    case 'gemini':
      return { url: modelsListUrl(backend), init }
    case 'azure-openai':
      return { url: azureModelsUrl(backend), init }
    default:
      return { url: `${backend.baseUrl}/models`, init }
  }
}

/** The provider's own auth (Bearer, api-key, x-api-key + anthropic-version), for a GET. */
function probeHeaders(backend: Backend): Record<string, string> {
  const h =
    backend.provider === 'anthropic'
      ? Object.fromEntries(anthropicHeaders(backend, false))
      : backend.provider === 'gemini'
        ? // Google's key header, never ?key=: probe URLs are logged.
          { ...backend.headers, ...(backend.apiKey ? { 'x-goog-api-key': backend.apiKey } : {}) }
        : { ...openAIHeaders(backend, backend.provider === 'azure-openai' ? 'api-key' : 'bearer') }
  delete h['content-type']
  h.accept = 'application/json'
  return h
}

/** Azure's models list, in the URL style the backend's requests use (see providers/azure). */
function azureModelsUrl(backend: Backend): string {
  const root = backend.baseUrl.replace(/\/+$/, '')
  const version = backend.spec.external?.apiVersion
  const query = version ? `?api-version=${encodeURIComponent(version)}` : ''
  if (/\/openai\/v1$/.test(root)) return `${root}/models${query}`
  const endpoint = root.replace(/\/openai\/deployments\/[^/]+$/, '').replace(/\/openai$/, '')
  return version ? `${endpoint}/openai/models${query}` : `${endpoint}/openai/v1/models`
}

/**
 * A user's path below the service root, without doubling what the root
 * already ends in: root `https://api.openai.com/v1` + `/v1/models` is
 * `https://api.openai.com/v1/models`.
 */
export function joinPath(root: string, path: string): string {
  const base = root.replace(/\/+$/, '')
  const p = path.startsWith('/') ? path : `/${path}`
  const segments = new URL(base).pathname.split('/')
  for (let i = 1; i < segments.length; i++) {
    const tail = `/${segments.slice(i).join('/')}`
    if (p === tail || p.startsWith(`${tail}/`) || p.startsWith(`${tail}?`)) return base + p.slice(tail.length)
  }
  return base + p
}

/** A 2xx whose JSON body, if it has `ready`, does not say false (strict: says true). Empty or non-JSON bodies pass. */
function readyBody(strict: boolean): (res: Response) => Promise<boolean> {
  return async (res) => {
    const text = await res.text()
    if (!res.ok) return false
    let ready: unknown
    try {
      ready = (JSON.parse(text) as { ready?: unknown } | null)?.ready
    } catch {
      return !strict
    }
    return strict ? ready === true : ready !== false
  }
}

export interface HealthSnapshot {
  health: Health
  /** Clock ms of the last finished probe. */
  lastCheck?: number
  lastError?: string
  consecutiveFailures: number
}

/**
 * One backend's probe results as instances share them (edge isolates, through
 * the Durable Object that holds the breaker board): the isolate the Cron ran
 * in publishes, the others adopt.
 */
export interface SharedHealth {
  health: Health
  /** Epoch ms of the last probe. */
  lastCheck: number
  lastError?: string
  failures: number
  successes: number
  /** The probe's URL without credentials or query: a result for another probe is not taken. */
  probe: string
}

export interface HealthMonitorOptions {
  fetch: FetchLike
  now?: () => number
  log?: Logger
  /** Timer seam (tests, runtimes); also times probes out. Default: setTimeout. */
  schedule?: (fn: () => void, ms: number) => { cancel(): void }
  /** Probe on each backend's interval (default). False: only `checkAll()` probes, e.g. from a Cron Trigger. */
  periodic?: boolean
  /** Every health change, for metrics and status. */
  onChange?: (key: string, from: Health, to: Health) => void
}

interface Entry {
  key: string
  /** Same signature, same probe: state survives a reload. */
  signature: string
  probe?: Probe
  intervalMs: number
  timeoutMs: number
  failureThreshold: number
  healthyThreshold: number
  /** Strings never to write in a log line or an error. */
  secrets: string[]
  health: Health
  lastCheck?: number
  lastError?: string
  failures: number
  successes: number
  timer?: { cancel(): void }
  inflight?: Promise<void>
  abort?: AbortController
  retired: boolean
}

const defaultSchedule = (fn: () => void, ms: number) => {
  const t = setTimeout(fn, ms)
  return { cancel: () => clearTimeout(t) }
}

export class HealthMonitor {
  private readonly entries = new Map<string, Entry>()
  private readonly fetch: FetchLike
  private readonly now: () => number
  private readonly schedule: NonNullable<HealthMonitorOptions['schedule']>

  constructor(private readonly opts: HealthMonitorOptions) {
    this.fetch = opts.fetch
    this.now = opts.now ?? Date.now
    this.schedule = opts.schedule ?? defaultSchedule
  }

  /** Start, stop or retarget probes for a new config's backends; a backend keeps its state when its probe is unchanged. */
  update(backends: Iterable<Backend>): void {
    const seen = new Set<string>()
    for (const b of backends) {
      const hc = b.spec.healthCheck
      if (!hc && b.provider !== 'demo') continue
      const key = `${b.namespace}/${b.name}`
      seen.add(key)
      // Without its key a backend fails every request anyway: no point knocking.
      const probe = b.missingSecret ? undefined : probeFor(b)
      const signature = JSON.stringify([probe?.url, probe?.init.headers, b.provider, b.spec.kserve?.protocol, hc?.path, b.missingSecret])
      const settings = {
        intervalMs: (hc?.intervalSeconds ?? 30) * 1000,
        timeoutMs: (hc?.timeoutSeconds ?? 5) * 1000,
        failureThreshold: hc?.failureThreshold ?? 3,
        healthyThreshold: hc?.healthyThreshold ?? 1,
      }
      const old = this.entries.get(key)
      if (old && old.signature === signature) {
        const rearm = old.intervalMs !== settings.intervalMs
        Object.assign(old, settings)
        if (rearm && old.timer) this.arm(old, old.intervalMs)
        continue
      }
      if (old) this.retire(old)
      const secrets = [b.apiKey, ...Object.values(b.headers)].filter((s): s is string => Boolean(s && s.length >= 8))
      const e: Entry = { key, signature, probe, ...settings, secrets, health: 'unknown', failures: 0, successes: 0, retired: false }
      this.entries.set(key, e)
      if (b.missingSecret) {
        // The words a request to it gets (the variable to set, or the cluster's Secret and key).
        e.lastError = `credentials not configured (set ${b.missingSecret})`
        this.set(e, 'unhealthy')
      } else if (!probe) e.health = 'healthy'
      else if (this.opts.periodic !== false) this.arm(e, 0)
    }
    for (const [key, e] of this.entries) if (!seen.has(key)) this.retire(e)
  }

  health(key: string): Health {
    return this.entries.get(key)?.health ?? 'unknown'
  }

  snapshot(key: string): HealthSnapshot | undefined {
    const e = this.entries.get(key)
    if (!e) return undefined
    const s: HealthSnapshot = { health: e.health, consecutiveFailures: e.failures }
    if (e.lastCheck !== undefined) s.lastCheck = e.lastCheck
    if (e.lastError !== undefined) s.lastError = e.lastError
    return s
  }

  /** This instance's probe results, for others to adopt: backends probed here only. */
  shared(): Record<string, SharedHealth> {
    const out: Record<string, SharedHealth> = {}
    for (const e of this.entries.values()) {
      if (!e.probe || e.lastCheck === undefined) continue
      out[e.key] = { health: e.health, lastCheck: e.lastCheck, failures: e.failures, successes: e.successes, probe: safeUrl(e.probe.url), ...(e.lastError === undefined ? {} : { lastError: e.lastError }) }
    }
    return out
  }

  /**
   * Takes the results another instance published, each when it is for the same
   * probe, newer than this instance's own and at most `maxAgeMs` old (a Cron
   * that stopped leaves no verdict standing for long). A change is not logged
   * again: the instance that probed logged it.
   */
  adopt(states: Record<string, SharedHealth>, maxAgeMs = 5 * 60_000): void {
    const now = this.now()
    for (const key in states) {
      const s = states[key]!
      const e = this.entries.get(key)
      if (!e?.probe || s.probe !== safeUrl(e.probe.url)) continue
      if (now - s.lastCheck > maxAgeMs || (e.lastCheck !== undefined && e.lastCheck >= s.lastCheck)) continue
      Object.assign(e, { lastCheck: s.lastCheck, lastError: s.lastError, failures: s.failures, successes: s.successes })
      if (e.health !== s.health) this.set(e, s.health, true)
    }
  }

  /** Run every probe once now (a Cron Trigger on the edge; tests). A probe already running is awaited, not doubled. */
  async checkAll(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => this.check(e)))
  }

  stop(): void {
    for (const e of this.entries.values()) this.retire(e)
  }

  private arm(e: Entry, ms: number): void {
    e.timer?.cancel()
    e.timer = this.schedule(() => {
      e.timer = undefined
      void this.check(e).then(() => {
        if (!e.retired && !e.timer) this.arm(e, e.intervalMs)
      })
    }, ms)
  }

  private retire(e: Entry): void {
    e.retired = true
    e.timer?.cancel()
    e.timer = undefined
    e.abort?.abort()
    if (this.entries.get(e.key) === e) this.entries.delete(e.key)
  }

  private check(e: Entry): Promise<void> {
    if (!e.probe || e.retired) return Promise.resolve()
    e.inflight ??= this.run(e, e.probe).finally(() => {
      e.inflight = undefined
    })
    return e.inflight
  }

  /** One probe; never throws. */
  private async run(e: Entry, probe: Probe): Promise<void> {
    const ctl = new AbortController()
    e.abort = ctl
    let timedOut = false
    const timer = this.schedule(() => {
      timedOut = true
      ctl.abort()
    }, e.timeoutMs)
    let error: string | undefined
    try {
      const res = await this.fetch(probe.url, { ...probe.init, signal: ctl.signal })
      const ok = probe.ok ? await probe.ok(res) : res.ok
      // Only the status counts; free the connection without waiting on it.
      if (!probe.ok) res.body?.cancel().catch(() => {})
      if (!ok) error = res.ok ? 'answered but not ready' : `HTTP ${res.status}`
    } catch (err) {
      error = timedOut ? `no answer within ${e.timeoutMs} ms` : describe(err)
    } finally {
      timer.cancel()
      e.abort = undefined
    }
    if (e.retired) return
    this.record(e, error === undefined ? undefined : redact(error, e.secrets))
  }

  private record(e: Entry, error: string | undefined): void {
    e.lastCheck = this.now()
    if (error === undefined) {
      e.failures = 0
      e.successes++
      e.lastError = undefined
      if (e.health !== 'healthy' && e.successes >= e.healthyThreshold) this.set(e, 'healthy')
    } else {
      e.successes = 0
      e.failures++
      e.lastError = error
      if (e.health !== 'unhealthy' && e.failures >= e.failureThreshold) this.set(e, 'unhealthy')
    }
  }

  private set(e: Entry, to: Health, quiet = false): void {
    const from = e.health
    e.health = to
    const log = quiet ? undefined : this.opts.log
    const fields = { backend: e.key, probe: e.probe && safeUrl(e.probe.url), from, to }
    if (to === 'unhealthy') log?.warn('backend unhealthy', { ...fields, error: e.lastError, consecutiveFailures: e.failures })
    else if (from === 'unhealthy') log?.record({ level: 'info', message: 'backend healthy again', ...fields })
    this.opts.onChange?.(e.key, from, to)
  }
}

/** A URL fit for a log line: no credentials, no query string (keys ride in them). */
function safeUrl(url: string): string {
  try {
    const u = new URL(url)
    return u.origin + u.pathname
  } catch {
    return '(invalid url)'
  }
}

function describe(err: unknown): string {
  const e = err as { message?: unknown; cause?: { message?: unknown } } | null
  const msg = typeof e?.message === 'string' ? e.message : String(err)
  const cause = typeof e?.cause?.message === 'string' ? e.cause.message : undefined
  return cause && cause !== msg ? `${msg}: ${cause}` : msg
}

function redact(message: string, secrets: string[]): string {
  let m = message.replace(/\?[^\s'"]*/g, '')
  for (const s of secrets) m = m.split(s).join('[redacted]')
  return m.slice(0, 300)
}
