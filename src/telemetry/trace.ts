// The request's trace while it runs: a SERVER span that continues the
// client's W3C traceparent, and one CLIENT span per upstream attempt (so
// retries and failovers are siblings), whose context goes upstream as
// `traceparent`. Only @opentelemetry/api: without an SDK, startRequest
// returns undefined and nothing else runs.
import { SpanKind, SpanStatusCode, context, diag, propagation, trace } from '@opentelemetry/api'
import type { Attributes, Context, Span, TextMapGetter } from '@opentelemetry/api'
import type { FetchLike, Operation } from '../providers/types.ts'
import * as g from './genai.ts'
import { OPERATION, genAiProviderName, rootSampleRatio, tracerNow } from './otel.ts'

export { sampleRootsAt } from './otel.ts'

/** A request being traced: its server span and the context its attempts start in. */
export interface RequestTrace {
  span: Span
  ctx: Context
  /** What its attempts use when the span is not recorded (built once). */
  unsampled?: AttemptSpan
  /** Prompts and completions may go on attempt spans (GatewayConfig telemetry.recordContent). */
  content: boolean
}

const fromHeaders: TextMapGetter<Headers> = {
  keys: (h) => [...h.keys()],
  get: (h, key) => h.get(key) ?? undefined,
}

/** The server span of an inference request, child of the client's traceparent when it sent one; undefined when no SDK traces. */
export function startRequest(req: Request, path: string, startTime: number): RequestTrace | undefined {
  const t = tracerNow()
  if (!t) return undefined
  try {
    // A runtime that traces its own server (Deno with OTEL_DENO) has made the server span and
    // continued the client's trace: ours goes inside it. Otherwise ours is the server span.
    const active = context.active()
    const nested = trace.getSpan(active) !== undefined
    // Kortex's default sampler leaves most untraced requests out: here, before the SDK is asked (otel.ts).
    const ratio = rootSampleRatio()
    if (ratio !== undefined && !nested && Math.random() >= ratio && !req.headers.has('traceparent')) return undefined
    const parent = nested ? active : propagation.extract(active, req.headers, fromHeaders)
    const span = t.startSpan(
      `POST ${path}`,
      { kind: nested ? SpanKind.INTERNAL : SpanKind.SERVER, startTime: new Date(startTime), attributes: { 'http.request.method': 'POST', 'http.route': path, 'url.path': path } },
      parent,
    )
    return { span, ctx: trace.setSpan(parent, span), content: false }
  } catch (err) {
    diag.warn('kortex: starting the request span failed', err)
    return undefined
  }
}

/** Ends a request refused or failed before any attempt answered: the status and error.type say why. */
export function endRefused(t: RequestTrace | undefined, status: number, errorType: string, endTime: number): void {
  if (!t) return
  try {
    if (!t.span.isRecording()) return t.span.end()
    t.span.setAttributes({ [g.HTTP_RESPONSE_STATUS_CODE]: status, [g.ERROR_TYPE]: errorType })
    t.span.setStatus({ code: SpanStatusCode.ERROR, message: errorType })
    t.span.end(new Date(endTime))
  } catch (err) {
    diag.warn('kortex: ending the request span failed', err)
  }
}

export interface AttemptInfo {
  op: Operation
  /** The model name sent upstream (a backend may rename it). */
  upstreamModel: string
  provider: string
  backend: string
  baseUrl: string
  /** 1 for the first request sent upstream, counting retries. */
  number: number
  startTime: number
  /** The prompt, recorded only when the config opts in. */
  messages?: unknown
}

/** One upstream attempt's CLIENT span and the fetch that carries its traceparent. */
export interface AttemptSpan {
  fetch: FetchLike
  answered(body: Record<string, unknown> | undefined, endTime: number): void
  failed(errorType: string, status: number | undefined, endTime: number): void
}

interface UsageLike {
  prompt_tokens?: number
  completion_tokens?: number
  input_tokens?: number
  output_tokens?: number
  prompt_tokens_details?: { cached_tokens?: number } | null
  cache_creation_input_tokens?: number
}

export function startAttempt(t: RequestTrace, a: AttemptInfo, fetch: FetchLike): AttemptSpan | undefined {
  const tracer = tracerNow()
  if (!tracer) return undefined
  // A request the sampler left out: no attempt spans, the upstream gets the request's context as it is (unsampled).
  if (!t.span.isRecording()) return (t.unsampled ??= unsampled(t, fetch))
  try {
    const op = OPERATION[a.op] ?? a.op
    const span = tracer.startSpan(`${op} ${a.upstreamModel}`, { kind: SpanKind.CLIENT, startTime: new Date(a.startTime) }, t.ctx)
    // A span the sampler dropped still sends its context upstream, but its attributes would be built for nothing.
    const recording = span.isRecording()
    if (recording) span.setAttributes(attemptAttributes(t, a, op))
    const carrier: Record<string, string> = {}
    const ctx = trace.setSpan(t.ctx, span)
    propagation.inject(ctx, carrier)
    // No propagator installed (an SDK without one): the span's own context, as W3C says.
    if (!carrier.traceparent) {
      const sc = span.spanContext()
      carrier.traceparent = `00-${sc.traceId}-${sc.spanId}-0${sc.traceFlags & 1}`
    }
    return {
      // In the attempt's context too: a runtime whose fetch traces itself (Deno) nests its span here.
      fetch: (input, init) => context.with(ctx, () => fetch(input, { ...init, headers: withHeaders(init?.headers, carrier) })),
      answered(body, endTime) {
        try {
          if (body && recording) {
            if (typeof body.model === 'string') span.setAttribute(g.GEN_AI_RESPONSE_MODEL, body.model)
            const u = body.usage as UsageLike | undefined
            const input = u?.prompt_tokens ?? u?.input_tokens
            const output = u?.completion_tokens ?? u?.output_tokens
            if (typeof input === 'number') span.setAttribute(g.GEN_AI_USAGE_INPUT_TOKENS, input)
            if (typeof output === 'number' && a.op !== 'embeddings') span.setAttribute(g.GEN_AI_USAGE_OUTPUT_TOKENS, output)
            // Prompt-cache reads and writes (the internal form's; a native answer's usage comes read into it): priced apart, so worth seeing.
            const read = u?.prompt_tokens_details?.cached_tokens
            if (typeof read === 'number' && read > 0) span.setAttribute(g.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, read)
            if (typeof u?.cache_creation_input_tokens === 'number' && u.cache_creation_input_tokens > 0) span.setAttribute(g.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, u.cache_creation_input_tokens)
            if (t.content && Array.isArray(body.choices)) span.setAttribute(g.GEN_AI_OUTPUT_MESSAGES, JSON.stringify(body.choices))
          }
          span.end(new Date(endTime))
        } catch (err) {
          diag.warn('kortex: ending an attempt span failed', err)
        }
      },
      failed(errorType, status, endTime) {
        try {
          if (!recording) return span.end()
          span.setAttribute(g.ERROR_TYPE, errorType)
          if (status !== undefined) span.setAttribute(g.HTTP_RESPONSE_STATUS_CODE, status)
          span.setStatus({ code: SpanStatusCode.ERROR, message: errorType })
          span.end(new Date(endTime))
        } catch (err) {
          diag.warn('kortex: ending an attempt span failed', err)
        }
      },
    }
  } catch (err) {
    diag.warn('kortex: starting an attempt span failed', err)
    return undefined
  }
}

function unsampled(t: RequestTrace, fetch: FetchLike): AttemptSpan {
  const carrier: Record<string, string> = {}
  propagation.inject(t.ctx, carrier)
  const none = () => {}
  return { fetch: carrier.traceparent ? (input, init) => fetch(input, { ...init, headers: withHeaders(init?.headers, carrier) }) : fetch, answered: none, failed: none }
}

function attemptAttributes(t: RequestTrace, a: AttemptInfo, op: string): Attributes {
  const attributes: Attributes = {
    [g.GEN_AI_OPERATION_NAME]: op,
    [g.GEN_AI_PROVIDER_NAME]: genAiProviderName(a.provider),
    [g.GEN_AI_REQUEST_MODEL]: a.upstreamModel,
    'kortex.backend': a.backend,
    'kortex.attempt': a.number,
  }
  const server = serverOf(a.baseUrl)
  if (server) {
    attributes[g.SERVER_ADDRESS] = server.address
    if (server.port !== undefined) attributes[g.SERVER_PORT] = server.port
  }
  if (t.content && a.messages !== undefined) attributes[g.GEN_AI_INPUT_MESSAGES] = JSON.stringify(a.messages)
  return attributes
}

// Parsed once per base URL (there are as many as backends).
const servers = new Map<string, { address: string; port?: number } | undefined>()
/** The upstream's host and port, from the backend's base URL ('demo:' has none). */
function serverOf(baseUrl: string): { address: string; port?: number } | undefined {
  if (servers.has(baseUrl)) return servers.get(baseUrl)
  if (servers.size > 10_000) servers.clear()
  const s = parseServer(baseUrl)
  servers.set(baseUrl, s)
  return s
}

function parseServer(baseUrl: string): { address: string; port?: number } | undefined {
  try {
    const u = new URL(baseUrl)
    if (!u.hostname) return undefined
    return { address: u.hostname, port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : u.protocol === 'http:' ? 80 : undefined }
  } catch {
    return undefined
  }
}

/** The provider's headers with the trace's added (a plain object stays one: cheaper for the runtime's fetch). */
function withHeaders(h: HeadersInit | undefined, add: Record<string, string>): HeadersInit {
  if (h instanceof Headers) {
    const copy = new Headers(h)
    for (const k in add) copy.set(k, add[k]!)
    return copy
  }
  if (Array.isArray(h)) return [...h, ...Object.entries(add)]
  return { ...h, ...add }
}
