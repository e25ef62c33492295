// Upstream failures, classified. The class decides what happens next:
// fail over, retry, or hand the error to the client.
import { GatewayError, type ErrorType } from '../api/errors.ts'

export type FailureClass =
  | 'rate_limit' // 429 from the upstream
  | 'auth' // the upstream refused our credentials (401/403)
  | 'billing' // quota or credit exhausted
  | 'context_window' // the prompt does not fit this backend
  | 'content_policy' // refused by the provider's filter
  | 'bad_request' // the client's request is wrong for this protocol (400/404/422)
  | 'server' // 5xx, overloaded
  | 'timeout' // no answer within the attempt's time
  | 'connection' // refused, reset, DNS
  | 'bad_response' // 2xx that is not what the protocol promises (HTML, broken JSON, cut stream)
  | 'unavailable' // not tried: missing credentials, unsupported operation

export class UpstreamError extends Error {
  constructor(
    readonly cls: FailureClass,
    message: string,
    readonly upstreamStatus?: number,
    /** Seconds, from the upstream's Retry-After. */
    readonly retryAfter?: number,
    /** The upstream's own error code/type when it gave one (e.g. "context_length_exceeded"). */
    readonly upstreamCode?: string,
    /** Parameter the upstream blamed, passed on for client errors. */
    readonly param?: string,
  ) {
    super(message)
  }
}

/** Classes where another backend may well succeed. */
export const FAILOVER_CLASSES: ReadonlySet<FailureClass> = new Set([
  'rate_limit',
  'auth',
  'billing',
  'context_window',
  'server',
  'timeout',
  'connection',
  'bad_response',
  'unavailable',
])

/**
 * What the client sees once no backend is left. Client mistakes keep their
 * 4xx and the upstream's message; our own credentials or an upstream's
 * trouble become 502/503/504 so a client never mistakes them for its own.
 */
export function toGatewayError(e: UpstreamError, backend: string): GatewayError {
  const at = `backend "${backend}"`
  const t = (status: number, type: ErrorType, code: string, msg: string, headers?: Record<string, string>) =>
    new GatewayError(status, msg, type, code, null, headers)
  switch (e.cls) {
    case 'bad_request':
      return new GatewayError(e.upstreamStatus && e.upstreamStatus < 500 ? e.upstreamStatus : 400, e.message, 'invalid_request_error', e.upstreamCode ?? null, e.param ?? null)
    case 'context_window':
      return new GatewayError(400, e.message, 'invalid_request_error', 'context_length_exceeded', 'messages')
    case 'content_policy':
      return new GatewayError(400, e.message, 'invalid_request_error', 'content_policy_violation')
    case 'rate_limit':
      return t(429, 'rate_limit_error', 'upstream_rate_limited', `${at} is rate limited: ${e.message}`, e.retryAfter ? { 'retry-after': String(Math.ceil(e.retryAfter)) } : undefined)
    case 'timeout':
      return t(504, 'timeout_error', 'upstream_timeout', `${at} did not answer in time`)
    case 'unavailable':
      return t(503, 'upstream_error', 'backend_unavailable', `${at} is unavailable: ${e.message}`)
    case 'auth':
      return t(502, 'upstream_error', 'upstream_auth_failed', `${at} refused the gateway's credentials for it`)
    case 'billing':
      return t(502, 'upstream_error', 'upstream_quota_exceeded', `${at} reports its quota or billing is exhausted`)
    case 'connection':
      return t(502, 'upstream_error', 'upstream_connection_failed', `${at} could not be reached: ${e.message}`)
    case 'bad_response':
      return t(502, 'upstream_error', 'upstream_bad_response', `${at} sent an invalid response: ${e.message}`)
    case 'server': {
      const g = t(502, 'upstream_error', 'upstream_server_error', `${at} failed${e.upstreamStatus ? ` with HTTP ${e.upstreamStatus}` : ''}: ${e.message}`)
      g.upstreamStatus = e.upstreamStatus
      return g
    }
  }
}

/** Seconds from a Retry-After header (delta-seconds or HTTP date). */
export function parseRetryAfter(h: string | null, now = Date.now()): number | undefined {
  if (!h) return undefined
  const s = Number(h)
  if (Number.isFinite(s)) return Math.max(0, s)
  const t = Date.parse(h)
  return Number.isNaN(t) ? undefined : Math.max(0, (t - now) / 1000)
}

/** Turn a fetch() rejection into a classified error (never leaking URLs with keys). */
export function fromFetchError(err: unknown, signal: AbortSignal): UpstreamError {
  if (signal.aborted) {
    const reason = signal.reason
    if (reason instanceof UpstreamError) return reason
    return new UpstreamError('timeout', 'aborted')
  }
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause
  const code = cause?.code ?? (err as { code?: string })?.code
  return new UpstreamError('connection', code ? `${code}` : err instanceof Error ? err.message : 'fetch failed')
}

/**
 * Classify a non-2xx upstream response from its status and (OpenAI-,
 * Anthropic- or KServe-shaped) error body. `secret` is scrubbed from any
 * message that is passed on.
 */
export async function fromResponse(res: Response, secret?: string): Promise<UpstreamError> {
  const text = await res.text().catch(() => '')
  let message = `HTTP ${res.status}`
  let code: string | undefined
  let type: string | undefined
  let param: string | undefined
  try {
    const j = JSON.parse(text) as { error?: unknown; message?: unknown; detail?: unknown }
    const e = j.error
    if (e && typeof e === 'object') {
      const o = e as { message?: unknown; code?: unknown; type?: unknown; param?: unknown }
      if (typeof o.message === 'string') message = o.message
      if (typeof o.code === 'string') code = o.code
      if (typeof o.type === 'string') type = o.type
      if (typeof o.param === 'string') param = o.param
    } else if (typeof e === 'string') message = e // KServe: {"error": "..."}
    else if (typeof j.message === 'string') message = j.message
    else if (typeof j.detail === 'string') message = j.detail
  } catch {
    if (text && !/^\s*</.test(text)) message = text.slice(0, 200)
  }
  if (secret) message = message.split(secret).join('***')
  const status = res.status
  const hint = `${code ?? ''} ${type ?? ''} ${message}`.toLowerCase()
  const retryAfter = parseRetryAfter(res.headers.get('retry-after'))
  let cls: FailureClass
  if (/context_length|context window|maximum context|prompt is too long|exceed context limit|too many tokens/.test(hint)) cls = 'context_window'
  else if (/insufficient_quota|billing|credit balance/.test(hint)) cls = 'billing'
  else if (status === 429) cls = 'rate_limit'
  else if (status === 401 || status === 403) cls = 'auth'
  else if (/content_policy|content_filter|safety/.test(hint)) cls = 'content_policy'
  else if (status >= 500 || status === 408 || status === 529) cls = 'server'
  else cls = 'bad_request'
  return new UpstreamError(cls, message, status, retryAfter, code ?? type, param)
}
