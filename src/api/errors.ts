// OpenAI-style errors. Every refusal the gateway makes goes through here so
// clients (the OpenAI SDK above all) always see the shape they expect:
// {"error":{"message","type","param","code"}}.

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'api_error'
  | 'upstream_error'
  | 'timeout_error'
  | 'insufficient_quota'

export interface ErrorBody {
  error: { message: string; type: ErrorType; param: string | null; code: string | null }
}

export class GatewayError extends Error {
  /** The HTTP status the last upstream answered, for a client API that words an upstream's trouble its own way; never sent. */
  upstreamStatus?: number

  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }

  body(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }
}

export const badRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new GatewayError(400, message, 'invalid_request_error', code, param)

export const notFound = (message: string, code = 'not_found', param: string | null = null) =>
  new GatewayError(404, message, 'invalid_request_error', code, param)

export function errorResponse(err: GatewayError, extraHeaders?: Record<string, string>): Response {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...err.headers, ...extraHeaders }
  return new Response(JSON.stringify(err.body()), { status: err.status, headers })
}
