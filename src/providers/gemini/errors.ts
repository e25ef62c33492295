// Google's error body, {"error": {"code", "message", "status"}} (Vertex's
// streaming endpoint may wrap it in an array), classified by its canonical
// status so failover and breakers treat it right.
import { UpstreamError, parseRetryAfter, type FailureClass } from '../errors.ts'

type Obj = Record<string, any>

const TOKEN_LIMIT = /token count|tokens? (?:allowed|limit)|exceeds the maximum number of tokens|context (?:window|length)|input is too long|prompt is too long|too many tokens/i

export function classifyGoogleError(httpStatus: number, error: Obj | undefined, secret?: string, retryAfter?: number): UpstreamError {
  const status = typeof error?.status === 'string' ? error.status : undefined
  let message = typeof error?.message === 'string' && error.message ? error.message : `HTTP ${httpStatus}`
  if (secret) message = message.split(secret).join('***')
  const code = typeof error?.code === 'number' ? error.code : httpStatus
  let cls: FailureClass
  if (status === 'RESOURCE_EXHAUSTED' || code === 429) cls = 'rate_limit'
  else if (reasons(error).includes('API_KEY_INVALID')) cls = 'auth' // a bad key is a 400 INVALID_ARGUMENT
  else if (status === 'UNAUTHENTICATED' || status === 'PERMISSION_DENIED' || code === 401 || code === 403) cls = /billing/i.test(message) ? 'billing' : 'auth'
  else if ((status === 'INVALID_ARGUMENT' || code === 400) && TOKEN_LIMIT.test(message)) cls = 'context_window'
  else if (status === 'FAILED_PRECONDITION' && /billing/i.test(message)) cls = 'billing'
  else if (status === 'UNAVAILABLE' || status === 'INTERNAL' || status === 'DEADLINE_EXCEEDED' || status === 'UNKNOWN' || code >= 500) cls = 'server'
  else cls = 'bad_request'
  return new UpstreamError(cls, message, httpStatus, retryAfter, status, undefined)
}

/** The google.rpc.ErrorInfo reasons in the error's details. */
const reasons = (error: Obj | undefined): string[] =>
  Array.isArray(error?.details) ? error.details.map((d: Obj) => d?.reason).filter((r: unknown): r is string => typeof r === 'string') : []

/** Classify a non-2xx answer from a Google endpoint; `secret` is scrubbed from the message passed on. */
export async function fromGoogleResponse(res: Response, secret?: string): Promise<UpstreamError> {
  const text = await res.text().catch(() => '')
  let error: Obj | undefined
  try {
    const j = JSON.parse(text)
    const o = Array.isArray(j) ? j[0] : j
    if (o && typeof o.error === 'object') error = o.error
  } catch {
    if (text && !/^\s*</.test(text)) error = { message: text.slice(0, 200) }
  }
  return classifyGoogleError(res.status, error, secret, parseRetryAfter(res.headers.get('retry-after')))
}
