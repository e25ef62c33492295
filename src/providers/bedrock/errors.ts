// Bedrock's errors, by exception name: an HTTP error carries it in the
// x-amzn-ErrorType header (and sometimes the body's __type), a stream's
// exception message in its :exception-type header. The body is {"message"}.
import { UpstreamError, parseRetryAfter, type FailureClass } from '../errors.ts'

/** The exception's class for failover and breakers; `status` decides what the name does not. */
export function classify(name: string, message: string, status?: number): FailureClass {
  const n = name.replace(/^.*#/, '').toLowerCase()
  const m = message.toLowerCase()
  if (n.startsWith('validationexception') && /too long|too many tokens|context window|max(imum)? context/.test(m)) return 'context_window'
  if (n.startsWith('throttlingexception') || n.startsWith('servicequotaexceededexception')) return 'rate_limit'
  if (/^(modelnotready|serviceunavailable|internalserver|modelstreamerror|modeltimeout|modelerror)exception/.test(n)) return n.startsWith('modeltimeout') ? 'timeout' : 'server'
  if (n.startsWith('accessdeniedexception') || n.startsWith('unrecognizedclientexception') || n.startsWith('expiredtokenexception') || n.startsWith('invalidsignatureexception')) return 'auth'
  if (n.startsWith('validationexception') || n.startsWith('resourcenotfoundexception')) return 'bad_request'
  if (status === 429) return 'rate_limit'
  if (status === 401 || status === 403) return 'auth'
  if (status !== undefined && (status >= 500 || status === 408 || status === 424)) return 'server'
  return status === undefined ? 'server' : 'bad_request'
}

/** The exception name without the header's ":http://internal..." suffix. */
const exceptionName = (h: string | null | undefined) => (h ?? '').split(':')[0]!.trim()

/** A non-2xx Bedrock answer, classified. */
export async function fromBedrockResponse(res: Response): Promise<UpstreamError> {
  const text = await res.text().catch(() => '')
  let message = `HTTP ${res.status}`
  let name = exceptionName(res.headers.get('x-amzn-errortype'))
  try {
    const j = JSON.parse(text) as { message?: unknown; Message?: unknown; __type?: unknown }
    const msg = j.message ?? j.Message
    if (typeof msg === 'string') message = msg
    if (!name && typeof j.__type === 'string') name = j.__type.replace(/^.*#/, '')
  } catch {
    if (text && !/^\s*</.test(text)) message = text.slice(0, 200)
  }
  return new UpstreamError(classify(name, message, res.status), message, res.status, parseRetryAfter(res.headers.get('retry-after')), name || undefined)
}
