// Tries the plan's backends in order. Each attempt has its own timeout and
// abort and holds a slot on its backend (in flight, breaker permit). A
// failure the route names as a trigger is retried on the same backend (up
// to maxRetries, with full-jitter backoff or the upstream's Retry-After)
// and then moves on; any other failure is the answer. No attempt starts
// past the route's deadline. A stream counts as answered only once its
// first content has arrived (see stream.ts), so it can fail over until then.
// A client's own request (Responses, Messages) goes natively to a backend
// that speaks its protocol, and its answer comes back untouched
// (native-stream.ts); every other backend gets the internal form.
import type { Backend, FailoverPolicy } from '../config/compile.ts'
import { providers } from '../providers/index.ts'
import { UpstreamError, toGatewayError, type FailureClass } from '../providers/errors.ts'
import type { FetchLike, NativeProtocol, NativeRequest, NativeSupport, Operation, ProviderResult, StreamBody, Usage } from '../providers/types.ts'
import { GatewayError } from '../api/errors.ts'
import { openStream, responseAsStream, type OpenedStream, type StreamOutcome } from './stream.ts'
import { openNativeStream } from './native-stream.ts'
import type { Fleet, Lease } from './fleet.ts'
import type { Scrubber } from '../telemetry/scrub.ts'
import { ERROR_TYPE_OTHER } from '../telemetry/genai.ts'
import { startAttempt, type AttemptSpan, type RequestTrace } from '../telemetry/trace.ts'

export interface Clock {
  now(): number
  random(): number
  /** Waits `ms`; rejects when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>
}

/** What an attempt aborts its upstream call with: an AbortController, or something as good for the runtime's fetch. */
export interface Aborter {
  readonly signal: AbortSignal
  abort(reason?: unknown): void
}

const newAbortController = (): Aborter => new AbortController()

export interface AttemptRequest {
  op: Operation
  body: Record<string, unknown>
  /** `body`'s JSON text as the client sent it. */
  raw?: string
  stream: boolean
  /** The client asked for the usage chunk itself. */
  clientWantsUsage: boolean
  /** Aborted when the client goes away. */
  signal: AbortSignal
  fetch: FetchLike
  /** Each attempt's controller; AbortController when absent. */
  aborter?: () => Aborter
  requestId: string
  policy: FailoverPolicy
  fleet: Fleet
  clock: Clock
  /** When the request arrived (the deadline counts from it). */
  startedAt: number
  /** Masks the gateway's secrets in what upstreams said (failure messages, stream error events). */
  scrub?: Scrubber
  /** The request's trace, when an SDK traces: each attempt gets its span and sends its traceparent. */
  trace?: RequestTrace
  /**
   * The client's own request (IngressRequest.native, with the client's request headers): a backend
   * that speaks its protocol gets it as it is and the Answer is `native`; any other gets `body`.
   */
  native?: NativeRequest
  /**
   * Set when only a backend speaking the client's protocol natively can serve the request (it names
   * state the gateway does not hold, such as a previous response of that backend's): every other
   * backend is passed over, and with none left this is the client's error.
   */
  nativeOnly?: GatewayError
  /** The route's forwardHeaders: client headers a native backend may receive (Route.forwardHeaders). */
  forwardHeaders?: readonly string[]
}

export interface AttemptFailure {
  backend: string
  cls: FailureClass
  message: string
  status?: number
}

interface AnswerBase {
  backend: Backend
  /** Requests sent upstream, retries included. */
  attempts: number
  failures: AttemptFailure[]
  /** Time to the answer (a stream's first content) on the backend that gave it. */
  latencyMs: number
}

/**
 * The answer, in the internal (OpenAI) form, or with `native` in the client's own protocol
 * (req.native.protocol), to send as it is. A native answer's usage is in the internal form:
 * `usage` for json, `done`'s outcome for a stream.
 */
export type Answer =
  | (AnswerBase & { kind: 'json'; native?: false; body: Record<string, unknown>; raw?: Uint8Array<ArrayBuffer> })
  | (AnswerBase & { kind: 'json'; native: true; body: Record<string, unknown>; raw: Uint8Array<ArrayBuffer>; usage?: Usage })
  | (AnswerBase & { kind: 'stream'; native?: boolean; body: StreamBody; done: Promise<StreamOutcome> })

/** Failures that say the backend is in trouble (the breaker counts them); a client's bad request never does. */
const BREAKER_CLASSES: ReadonlySet<FailureClass> = new Set(['server', 'timeout', 'connection', 'bad_response', 'rate_limit'])
/** Failures worth a second try on the same backend. */
const RETRY_CLASSES: ReadonlySet<FailureClass> = new Set(['server', 'timeout', 'connection', 'bad_response', 'rate_limit'])

const OP_TEXT: Record<Operation, string> = { chat: 'chat completions', completions: 'completions', embeddings: 'embeddings' }

/** A backend and the protocol it speaks, for a client told it cannot serve an operation. */
function protocolOf(b: Backend): string {
  const p = b.provider === 'kserve' ? (b.spec.kserve?.protocol ?? 'openai') : 'openai'
  return p === 'openai' ? `'${b.name}' (${b.provider})` : `'${b.name}' (kserve ${p}, reached at /kserve/${b.name}/${p}/...)`
}

const nativeSide = (b: Backend): NativeSupport | undefined => providers[b.provider].native

/** Whether `backend` takes the client's protocol natively. */
export const speaksNatively = (b: Backend, protocol: NativeProtocol): boolean => nativeSide(b)?.speaks(protocol, b) ?? false

/** The client's request with the backend's model name; its text kept while the body is unchanged. */
function nativeFor(n: NativeRequest, backend: Backend): NativeRequest {
  if (!backend.model || backend.model === n.body.model) return n
  return { ...n, body: { ...n.body, model: backend.model }, raw: undefined }
}

export const systemClock: Clock = {
  now: () => Date.now(),
  random: Math.random,
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason)
      const t = setTimeout(() => (signal.removeEventListener('abort', stop), resolve()), ms)
      const stop = () => (clearTimeout(t), reject(signal.reason))
      signal.addEventListener('abort', stop, { once: true })
    }),
}

/** Full jitter: uniform in [0, min(max, initial·2^retry)]. */
export const backoffMs = (p: FailoverPolicy, retry: number, random: () => number) => random() * Math.min(p.maxBackoffMs, p.initialBackoffMs * 2 ** retry)

/** `reserve`: backends held back by their breaker or health, tried (breaker or not) only after all of `plan` failed. */
export async function attempt(plan: Backend[], reserve: Backend[], req: AttemptRequest): Promise<Answer> {
  const count = plan.length + reserve.length
  if (!count) throw new GatewayError(503, 'No backend is available for this route', 'upstream_error', 'no_backend_available')
  const { policy, clock } = req
  const deadline = req.startedAt + policy.deadlineMs
  const failures: AttemptFailure[] = []
  let sent = 0
  let last: { err: UpstreamError; backend: Backend } | undefined
  // After a context-window failure, only backends with a larger (or unknown) window are worth trying.
  let needWindow = 0
  const fail = (backend: Backend, e: UpstreamError) => {
    failures.push({ backend: backend.name, cls: e.cls, message: req.scrub ? req.scrub.scrub(e.message) : e.message, status: e.upstreamStatus })
    last = { err: e, backend }
  }

  backends: for (let i = 0; i < count; i++) {
    if (i > 0 && !policy.enabled) break
    // The plan's backends, then the reserve's, which are tried breaker or not.
    const force = i >= plan.length
    const backend = force ? reserve[i - plan.length]! : plan[i]!
    if (backend.contextWindow && backend.contextWindow <= needWindow) continue
    const provider = providers[backend.provider]
    if (!provider.supports(req.op, backend)) {
      fail(backend, new UpstreamError('unavailable', `does not serve ${req.op}`))
      continue
    }
    if (req.nativeOnly && !(req.native && speaksNatively(backend, req.native.protocol))) {
      fail(backend, new UpstreamError('unavailable', `does not speak ${req.native?.protocol ?? 'the client API'} natively`))
      continue
    }
    for (let retry = 0; ; retry++) {
      if (req.signal.aborted) break backends
      const at = clock.now()
      const left = deadline - at
      if (left <= 0) {
        fail(backend, new UpstreamError('timeout', `the route's deadline of ${policy.deadlineMs / 1000} s passed`))
        break backends
      }
      const lease = req.fleet.start(backend, force)
      if (!lease) {
        fail(backend, new UpstreamError('unavailable', force ? `at its concurrency limit (${backend.maxConcurrency})` : 'circuit open or at its concurrency limit'))
        continue backends
      }
      sent++
      try {
        return await once(backend, lease, Math.min(left, policy.attemptTimeoutMs ?? backend.timeoutMs), req, failures, sent, at)
      } catch (err) {
        // Only what an upstream did (its status, its body, a timeout, a connection failure) is an
        // UpstreamError. Anything else was thrown by our own code around the call: the client's
        // error or ours, never the backend's, so it counts against no breaker and tries no other.
        if (!(err instanceof UpstreamError)) {
          lease.end('cancelled')
          throw err
        }
        const e = err
        lease.end(!req.signal.aborted && BREAKER_CLASSES.has(e.cls) ? 'failure' : 'cancelled')
        fail(backend, e)
        if (req.signal.aborted || !policy.triggers(e)) break backends
        if (e.cls === 'context_window') {
          needWindow = Math.max(needWindow, backend.contextWindow ?? 0)
          continue backends
        }
        if (retry >= policy.maxRetries || !RETRY_CLASSES.has(e.cls)) continue backends
        const wait = e.retryAfter !== undefined ? e.retryAfter * 1000 : backoffMs(policy, retry, clock.random)
        if (wait > policy.maxRetryAfterMs || clock.now() + wait >= deadline) continue backends
        try {
          await clock.sleep(wait, req.signal)
        } catch {
          break backends
        }
      }
    }
  }
  if (req.signal.aborted) throw new GatewayError(499, 'Client closed the request', 'invalid_request_error', 'client_closed_request')
  if (!sent && req.nativeOnly) throw req.nativeOnly
  if (!sent && [...plan, ...reserve].every((b) => !providers[b.provider].supports(req.op, b))) {
    // No candidate's protocol carries the operation (embeddings to Anthropic): a 4xx, not a 503 that SDKs retry for nothing.
    const which = [...plan, ...reserve].map(protocolOf).join(', ')
    throw new GatewayError(400, `This route cannot serve ${OP_TEXT[req.op]}: its backends ${which} do not support it.`, 'invalid_request_error', 'unsupported_operation', 'model', { 'x-kortex-attempts': '0' })
  }
  const ge = toGatewayError(last!.err, last!.backend.name)
  ge.headers['x-kortex-attempts'] = String(sent)
  ge.headers['x-kortex-backend'] = last!.backend.name
  throw ge
}

/** One request to one backend, under its own timeout, sent at `sentAt`. Throws UpstreamError on failure. */
async function once(backend: Backend, lease: Lease, timeoutMs: number, req: AttemptRequest, failures: AttemptFailure[], attempts: number, sentAt: number): Promise<Answer> {
  const ctl = (req.aborter ?? newAbortController)()
  const onClientAbort = () => ctl.abort(req.signal.reason)
  req.signal.addEventListener('abort', onClientAbort, { once: true })
  const timer = setTimeout(() => ctl.abort(new UpstreamError('timeout', `no answer within ${timeoutMs} ms`)), timeoutMs)
  const cleanup = () => {
    clearTimeout(timer)
    req.signal.removeEventListener('abort', onClientAbort)
  }
  const native = req.native && speaksNatively(backend, req.native.protocol) ? nativeFor(req.native, backend) : undefined
  const body = native ? native.body : backend.model ? { ...req.body, model: backend.model } : req.body
  const raw = body === req.body ? req.raw : undefined
  const span = req.trace && attemptSpan(req.trace, backend, body, req, attempts, sentAt)
  const base = () => ({ backend, attempts, failures, latencyMs: req.clock.now() - sentAt })
  /** The whole answer is here: the attempt is over. */
  const whole = (answered: Record<string, unknown>) => {
    cleanup()
    const b = base()
    lease.answered(b.latencyMs)
    lease.end('success')
    span?.answered(answered, req.clock.now())
    return b
  }
  /** The stream's first content is here: from now on its own idle timeout guards it. */
  const streaming = (opened: OpenedStream): Answer => {
    clearTimeout(timer)
    const b = base()
    lease.answered(b.latencyMs)
    opened.done.then(
      (o) => lease.end(o.cancelled ? 'cancelled' : o.error ? 'failure' : 'success'),
      () => lease.end('failure'),
    )
    opened.done.finally(cleanup)
    if (span) {
      const model = body.model as string
      opened.done.then(
        (o) => (o.error ? span.failed('stream_error', undefined, req.clock.now()) : span.answered({ model, usage: o.usage }, req.clock.now())),
        () => span.failed('stream_error', undefined, req.clock.now()),
      )
    }
    return { kind: 'stream', ...b, native: native !== undefined, body: opened.body, done: opened.done }
  }
  const streamOptions = { stripUsage: !req.clientWantsUsage, idleTimeoutMs: timeoutMs, abort: (r: unknown) => ctl.abort(r), signal: ctl.signal, scrub: req.scrub }
  try {
    const call = { backend, op: req.op, body, raw, stream: req.stream, signal: ctl.signal, fetch: span ? span.fetch : req.fetch, requestId: req.requestId }
    if (native) {
      const result = await nativeSide(backend)!.send({ ...call, native, forwardHeaders: req.forwardHeaders })
      if (result.kind === 'stream') return streaming(await openNativeStream(result.body, result.dialect, streamOptions))
      const b = whole({ model: result.body.model, usage: result.usage })
      return { kind: 'json', native: true, ...b, body: result.body, raw: result.raw, usage: result.usage }
    }
    const result: ProviderResult = await providers[backend.provider].send(call)
    if (result.kind === 'stream') return streaming(await openStream(result.body, streamOptions))
    let s: ReadableStream<Uint8Array> | undefined
    try {
      if (req.stream) s = responseAsStream(result.body, req.clientWantsUsage)
    } catch {
      throw new UpstreamError('bad_response', 'a response whose choices cannot be read')
    }
    const b = whole(result.body)
    if (!s) return { kind: 'json', ...b, body: result.body, raw: result.raw }
    return { kind: 'stream', ...b, body: s, done: Promise.resolve({ usage: result.body.usage as never, chunks: 0 }) }
  } catch (err) {
    cleanup()
    ctl.abort()
    // An upstream's HTTP status says it best; else the failure's class (timeout, connection).
    span?.failed(err instanceof UpstreamError ? (err.upstreamStatus !== undefined ? String(err.upstreamStatus) : err.cls) : ERROR_TYPE_OTHER, err instanceof UpstreamError ? err.upstreamStatus : undefined, req.clock.now())
    throw err
  }
}

function attemptSpan(t: RequestTrace, backend: Backend, body: Record<string, unknown>, req: AttemptRequest, number: number, startTime: number): AttemptSpan | undefined {
  const upstreamModel = typeof body.model === 'string' ? body.model : ''
  return startAttempt(t, { op: req.op, upstreamModel, provider: backend.provider, backend: backend.name, baseUrl: backend.baseUrl, number, startTime, messages: body.messages ?? body.prompt ?? body.input }, req.fetch)
}
