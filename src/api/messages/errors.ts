// Errors in Anthropic's shape: {"type":"error","error":{"type","message"},"request_id"},
// with the status codes of docs.anthropic.com/en/api/errors. The status the
// gateway chose is kept, and only the type is Anthropic's word for it, with
// one exception: an upstream that answered 503 or 529 (overloaded,
// unavailable) is what Anthropic answers overload with, 529 overloaded_error
// (the SDK's OverloadedError), where the other APIs answer 502. The access
// line and metrics record the status the client gets (Ingress.status).
import type { GatewayError } from '../errors.ts'

export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error'

/**
 * 503 is overloaded_error: every 503 the gateway gives of its own (no backend
 * available, a backend unavailable, limits store down, no config yet) is
 * Anthropic's "temporarily overloaded, try again" — the type Anthropic clients
 * (Claude Code among them) treat as transient. It stays 503: that is the
 * gateway's own state, not an upstream's overload (see statusOf).
 */
export function errorType(status: number): AnthropicErrorType {
  switch (status) {
    case 400:
      return 'invalid_request_error'
    case 401:
      return 'authentication_error'
    case 402:
      return 'billing_error'
    case 403:
      return 'permission_error'
    case 404:
      return 'not_found_error'
    case 413:
      return 'request_too_large'
    case 429:
      return 'rate_limit_error'
    case 503:
    case 529:
      return 'overloaded_error'
    case 504:
      return 'timeout_error'
    default:
      // Anthropic: other 4xx are invalid_request_error too.
      return status >= 400 && status < 500 ? 'invalid_request_error' : 'api_error'
  }
}

export function errorBody(type: AnthropicErrorType, message: string, requestId?: string): Record<string, unknown> {
  const body: Record<string, unknown> = { type: 'error', error: { type, message } }
  if (requestId) body.request_id = requestId
  return body
}

/** Upstream statuses that say "overloaded or unavailable, try later": Anthropic's 529, anyone's 503. */
const OVERLOADED = new Set([503, 529])

/** The status a Messages client gets for `err`: 529 for an upstream's overload, else the gateway's. */
export function statusOf(err: GatewayError): number {
  return err.code === 'upstream_server_error' && err.upstreamStatus !== undefined && OVERLOADED.has(err.upstreamStatus) ? 529 : err.status
}

/** A gateway error as Anthropic's response: its status, its headers (retry-after, x-ratelimit-*), the request id. */
export function errorResponse(err: GatewayError, headers: Record<string, string> = {}): Response {
  const requestId = headers['x-request-id'] ?? err.headers['x-request-id']
  const h: Record<string, string> = { 'content-type': 'application/json', ...err.headers, ...headers }
  // The Anthropic SDKs read the request id from `request-id`.
  if (requestId) h['request-id'] = requestId
  const status = statusOf(err)
  return new Response(JSON.stringify(errorBody(errorType(status), err.message, requestId)), { status, headers: h })
}

/**
 * The internal stream's error event ({"error":{"type","code","message"}}) as the
 * type of Anthropic's `error` event. Rate limits and overload stay themselves.
 */
export function streamErrorType(e: Record<string, unknown>): AnthropicErrorType {
  const t = `${String(e.type ?? '')} ${String(e.code ?? '')}`
  if (/overloaded/.test(t)) return 'overloaded_error'
  if (/rate_limit/.test(t)) return 'rate_limit_error'
  return 'api_error'
}
