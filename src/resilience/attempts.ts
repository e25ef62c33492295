// Tries the plan's backends in order. Each attempt has its own timeout and
// abort; a failure whose class allows it moves to the next backend, any
// other is the answer. A stream counts as answered only once its first
// content has arrived (see stream.ts), so it can fail over until then.
import type { Backend } from '../config/compile.ts'
import { providers } from '../providers/index.ts'
import { FAILOVER_CLASSES, UpstreamError, toGatewayError } from '../providers/errors.ts'
import type { FetchLike, Operation, ProviderResult } from '../providers/types.ts'
import { GatewayError } from '../api/errors.ts'
import { openStream, responseAsStream, type StreamOutcome } from './stream.ts'

export interface AttemptRequest {
  op: Operation
  body: Record<string, unknown>
  stream: boolean
  /** The client asked for the usage chunk itself. */
  clientWantsUsage: boolean
  /** Aborted when the client goes away. */
  signal: AbortSignal
  fetch: FetchLike
  requestId: string
  /** Per-attempt timeout from the route; the backend's own when absent. */
  attemptTimeoutMs?: number
}

export interface AttemptFailure {
  backend: string
  cls: string
  message: string
}

export type Answer =
  | { kind: 'json'; backend: Backend; attempts: number; failures: AttemptFailure[]; body: Record<string, unknown>; raw?: string }
  | { kind: 'stream'; backend: Backend; attempts: number; failures: AttemptFailure[]; body: ReadableStream<Uint8Array>; done: Promise<StreamOutcome> }

export async function attempt(plan: Backend[], req: AttemptRequest): Promise<Answer> {
  if (!plan.length) throw new GatewayError(503, 'No backend is available for this route', 'upstream_error', 'no_backend_available')
  const failures: AttemptFailure[] = []
  let last: { err: UpstreamError; backend: Backend } | undefined
  for (const backend of plan) {
    if (req.signal.aborted) break
    const provider = providers[backend.provider]
    if (!provider.supports(req.op)) {
      last = { err: new UpstreamError('unavailable', `does not serve ${req.op}`), backend }
      failures.push({ backend: backend.name, cls: 'unavailable', message: last.err.message })
      continue
    }
    const ctl = new AbortController()
    const onClientAbort = () => ctl.abort(req.signal.reason)
    req.signal.addEventListener('abort', onClientAbort, { once: true })
    const timeoutMs = req.attemptTimeoutMs ?? backend.timeoutMs
    const timer = setTimeout(() => ctl.abort(new UpstreamError('timeout', `no answer within ${timeoutMs} ms`)), timeoutMs)
    const cleanup = () => {
      clearTimeout(timer)
      req.signal.removeEventListener('abort', onClientAbort)
    }
    const body = backend.model ? { ...req.body, model: backend.model } : req.body
    try {
      const result: ProviderResult = await provider.send({ backend, op: req.op, body, stream: req.stream, signal: ctl.signal, fetch: req.fetch, requestId: req.requestId })
      const attempts = failures.length + 1
      if (result.kind === 'json') {
        cleanup()
        if (!req.stream) return { kind: 'json', backend, attempts, failures, body: result.body, raw: result.raw }
        const s = responseAsStream(result.body, req.clientWantsUsage)
        return { kind: 'stream', backend, attempts, failures, body: s, done: Promise.resolve({ usage: result.body.usage as never }) }
      }
      const opened = await openStream(result.body, {
        stripUsage: !req.clientWantsUsage,
        idleTimeoutMs: timeoutMs,
        abort: (r) => ctl.abort(r),
        signal: ctl.signal,
      })
      // First content is here: from now on the stream's own idle timeout guards it.
      clearTimeout(timer)
      opened.done.finally(cleanup)
      return { kind: 'stream', backend, attempts, failures, body: opened.body, done: opened.done }
    } catch (err) {
      cleanup()
      ctl.abort()
      if (err instanceof GatewayError) throw err
      const e = err instanceof UpstreamError ? err : new UpstreamError('server', err instanceof Error ? err.message : String(err))
      failures.push({ backend: backend.name, cls: e.cls, message: e.message })
      last = { err: e, backend }
      if (!FAILOVER_CLASSES.has(e.cls)) break
    }
  }
  if (req.signal.aborted) throw new GatewayError(499, 'Client closed the request', 'invalid_request_error', 'client_closed_request')
  const ge = toGatewayError(last!.err, last!.backend.name)
  ge.headers['x-kortex-attempts'] = String(failures.length)
  ge.headers['x-kortex-backend'] = last!.backend.name
  throw ge
}
