// One request, told to OpenTelemetry after the response: a GenAI client span
// and the GenAI client metrics, plus Kortex's own request and cost counters.
// Only @opentelemetry/api is used; each runtime installs (or not) an SDK, and
// without one this costs two identity checks. Metrics go through metrics.ts.
import { SpanKind, SpanStatusCode, diag, trace } from '@opentelemetry/api'
import type { Attributes, Tracer, TracerProvider } from '@opentelemetry/api'
import * as g from './genai.ts'
import { attributionLabel, type LabelSets } from './labels.ts'
import type { RequestTrace } from './trace.ts'
import { M, bounded, instrumentsNow, statusClass, type Instruments } from './metrics.ts'

export { recordStoreFailure } from './metrics.ts'

export interface RequestSummary {
  op: 'chat' | 'completions' | 'embeddings'
  requestModel: string
  responseModel?: string
  /** Kortex's provider id: 'openai' | 'azure-openai' | 'anthropic' | 'kserve' | 'demo' — map it to gen_ai.provider.name */
  provider?: string
  backend?: string
  route: string
  /** epoch ms */
  startTime: number
  endTime: number
  ttftMs?: number
  stream: boolean
  status: number
  /** e.g. 'upstream_timeout', 'rate_limit_exceeded' when the request failed */
  errorType?: string
  inputTokens?: number
  outputTokens?: number
  cachedInputTokens?: number
  /** cost in nano-units (1e-9) of `currency` */
  costNano?: number
  currency?: string
  /** bounded dimensions only (team, feature) — never user ids */
  team?: string
  feature?: string
  /** The values team and feature may take as metric labels (GatewayConfig telemetry.labels). */
  labels?: LabelSets
  attempts: number
  /** Attempts that failed before the answer (a failover when any), by backend name. */
  failures?: ReadonlyArray<{ backend: string }>
  /** A stream the client left before its end. */
  cancelled?: boolean
  requestId: string
  experiment?: string
  variant?: string
}

const SCOPE = 'kortex'

/** Kortex's own names: span attributes (any cardinality) and metrics (bounded attributes only). */
export const KORTEX_REQUESTS = M.requests
export const KORTEX_COST = M.cost
export const KORTEX_STORE_FAILURES = M.storeFailures

export const OPERATION: Record<RequestSummary['op'], string> = {
  chat: g.GenAiOperation.chat,
  completions: g.GenAiOperation.textCompletion,
  embeddings: g.GenAiOperation.embeddings,
}

const PROVIDER: Record<string, string> = {
  openai: g.GenAiProvider.openai,
  'azure-openai': g.GenAiProvider.azureOpenai,
  anthropic: g.GenAiProvider.anthropic,
  bedrock: g.GenAiProvider.awsBedrock,
  gemini: g.GenAiProvider.gcpGemini,
  vertex: g.GenAiProvider.gcpVertexAi,
  cohere: g.GenAiProvider.cohere,
  mistral: g.GenAiProvider.mistralAi,
}

/** Kortex provider id → gen_ai.provider.name; ids without a well-known value pass as they are. */
export const genAiProviderName = (provider: string): string => PROVIDER[provider] ?? provider

// The API's global tracer provider is a proxy; its delegate is the SDK's (or a no-op).
type Proxy = TracerProvider & { getDelegate?(): TracerProvider; getDelegateTracer?(name: string): Tracer | undefined }
let tracerProvider: TracerProvider | undefined
let tracer: Tracer | undefined
export function tracerNow(): Tracer | undefined {
  const p = trace.getTracerProvider() as Proxy
  const delegate = p.getDelegate ? p.getDelegate() : p
  if (delegate === tracerProvider) return tracer
  tracerProvider = delegate
  return (tracer = p.getDelegateTracer ? p.getDelegateTracer(SCOPE) : p.getTracer(SCOPE))
}

/** Whether an SDK records anything: callers skip building the summary when none does. */
export const telemetryOn = (): boolean => tracerNow() !== undefined || instrumentsNow() !== undefined

/**
 * The metrics, and the request's span, through @opentelemetry/api's global tracer/meter: a no-op
 * unless the runtime installed an SDK. Never throws. With `t` (the request traced as it ran) its
 * server span gets the outcome and ends; without, one span `{op} {model}` (kind CLIENT, start/end
 * from the summary, status error when status >= 400) tells the whole request after the fact.
 */
// The ratio at which requests that come with no trace start one, when the runtime installed
// Kortex's default sampler (parent-based, a ratio for roots): the rest are left out before the
// SDK is asked (trace.ts startRequest), and get no span here either. Asking the SDK costs ~9 µs a
// request (a span, ids, a traceparent upstream), more than a tenth of a plain request's CPU, for
// requests nobody records. Undefined: the SDK decides for every request.
let rootRatio: number | undefined
export function sampleRootsAt(ratio: number | undefined): void {
  rootRatio = ratio
}
export const rootSampleRatio = (): number | undefined => rootRatio

export function recordRequest(s: RequestSummary, t?: RequestTrace): void {
  try {
    // No request trace: no SDK traces, or the request was left out by the sampler (no span then).
    const tracer = t || rootRatio !== undefined ? undefined : tracerNow()
    const m = instrumentsNow()
    if (!t && !tracer && !m) return
    const op = OPERATION[s.op] ?? s.op
    const provider = s.provider === undefined ? undefined : genAiProviderName(s.provider)
    const failed = s.status >= 400 || s.errorType !== undefined
    const errorType = failed ? s.errorType || (s.status >= 400 ? String(s.status) : g.ERROR_TYPE_OTHER) : undefined
    const embeddings = s.op === 'embeddings'
    const ttft = s.stream && s.ttftMs !== undefined ? s.ttftMs / 1000 : undefined
    if (t) serverSpan(t, s, op, errorType)
    else if (tracer) span(tracer, s, op, provider, errorType, embeddings, ttft)
    if (m) measure(m, s, op, provider, errorType, embeddings, ttft)
  } catch (err) {
    diag.warn('kortex: recording request telemetry failed', err)
  }
}

function span(t: Tracer, s: RequestSummary, op: string, provider: string | undefined, errorType: string | undefined, embeddings: boolean, ttft: number | undefined) {
  const a: Attributes = {
    [g.GEN_AI_OPERATION_NAME]: op,
    [g.GEN_AI_REQUEST_MODEL]: s.requestModel,
    [g.GEN_AI_REQUEST_STREAM]: s.stream,
    [g.HTTP_RESPONSE_STATUS_CODE]: s.status,
    'kortex.route': s.route,
    'kortex.attempts': s.attempts,
    'kortex.request_id': s.requestId,
  }
  if (provider !== undefined) a[g.GEN_AI_PROVIDER_NAME] = provider
  if (s.responseModel !== undefined) a[g.GEN_AI_RESPONSE_MODEL] = s.responseModel
  if (errorType !== undefined) a[g.ERROR_TYPE] = errorType
  if (s.inputTokens !== undefined) a[g.GEN_AI_USAGE_INPUT_TOKENS] = s.inputTokens
  if (s.outputTokens !== undefined && !embeddings) a[g.GEN_AI_USAGE_OUTPUT_TOKENS] = s.outputTokens
  if (s.cachedInputTokens !== undefined) a[g.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = s.cachedInputTokens
  if (ttft !== undefined) a[g.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttft
  kortexAttributes(a, s)
  // Attributes at start, so samplers see them; Dates, because a small epoch number reads as performance time.
  const sp = t.startSpan(`${op} ${s.requestModel}`, { kind: SpanKind.CLIENT, startTime: new Date(s.startTime), attributes: a })
  if (errorType !== undefined) sp.setStatus({ code: SpanStatusCode.ERROR, message: errorType })
  sp.end(new Date(Math.max(s.endTime, s.startTime)))
}

/** Where a request went and whom it is for: Kortex's attributes on its span. */
function kortexAttributes(a: Attributes, s: RequestSummary): void {
  if (s.backend !== undefined) a['kortex.backend'] = s.backend
  if (s.costNano !== undefined && s.currency !== undefined) {
    a['kortex.cost'] = s.costNano / 1e9
    a['kortex.currency'] = s.currency
  }
  if (s.team !== undefined) a['kortex.team'] = s.team
  if (s.feature !== undefined) a['kortex.feature'] = s.feature
  if (s.experiment !== undefined) a['kortex.experiment'] = s.experiment
  if (s.variant !== undefined) a['kortex.variant'] = s.variant
}

/** The server span's outcome: what was asked, where it went, how it ended. Token usage stays on the attempt that used it (no double counting). */
function serverSpan(t: RequestTrace, s: RequestSummary, op: string, errorType: string | undefined) {
  if (!t.span.isRecording()) return t.span.end()
  const a: Attributes = {
    [g.GEN_AI_OPERATION_NAME]: op,
    [g.GEN_AI_REQUEST_MODEL]: s.requestModel,
    [g.HTTP_RESPONSE_STATUS_CODE]: s.status,
    'kortex.route': s.route,
    'kortex.attempts': s.attempts,
    'kortex.request_id': s.requestId,
  }
  if (errorType !== undefined) a[g.ERROR_TYPE] = errorType
  kortexAttributes(a, s)
  if (s.cancelled) a['kortex.cancelled'] = true
  t.span.setAttributes(a)
  if (errorType !== undefined) t.span.setStatus({ code: SpanStatusCode.ERROR, message: errorType })
  t.span.end(new Date(Math.max(s.endTime, s.startTime)))
}

function measure(m: Instruments, s: RequestSummary, op: string, provider: string | undefined, errorType: string | undefined, embeddings: boolean, ttft: number | undefined) {
  // GenAI attributes in the order of GENAI_NAMES (metrics.ts); an empty one is left out.
  const model = bounded('model', s.requestModel)
  const p = provider === undefined ? '' : bounded('provider', provider)
  const rm = s.responseModel === undefined ? '' : bounded('model', s.responseModel)
  if (s.inputTokens !== undefined) m.tokens.record(s.inputTokens, [op, model, p, rm, g.GenAiTokenType.input])
  if (s.outputTokens !== undefined && !embeddings) m.tokens.record(s.outputTokens, [op, model, p, rm, g.GenAiTokenType.output])
  if (ttft !== undefined) m.ttfc.record(ttft, [op, model, p, rm, ''])
  m.duration.record(Math.max(0, s.endTime - s.startTime) / 1000, [op, model, p, rm, errorType === undefined ? '' : bounded('error', errorType)])

  // Kortex's own: every label present on every series (empty when not known), so queries need no `or`.
  const route = bounded('route', s.route)
  const backend = s.backend === undefined ? '' : bounded('backend', s.backend)
  const failovers = s.failures?.length ?? 0
  const outcome = s.status >= 400 ? 'failed' : failovers ? 'failed_over' : 'served'
  m.requests.add(1, [route, backend, statusClass(s.status), outcome, s.status >= 400 && errorType !== undefined ? bounded('error', errorType) : ''])
  if (s.failures) for (const f of s.failures) m.attempts.add(1, [route, bounded('backend', f.backend), 'failed'])
  if (s.status < 400 && s.backend !== undefined) m.attempts.add(1, [route, backend, 'ok'])
  else if (s.attempts > failovers) m.attempts.add(s.attempts - failovers, [route, '', 'failed'])
  if (s.attempts > 1) m.retries.add(s.attempts - 1, [route])
  if (s.stream && s.status < 400) m.streams.add(1, [route, backend, s.cancelled ? 'cancelled' : s.errorType !== undefined ? 'cut' : 'completed'])

  if (s.costNano !== undefined && s.currency !== undefined) {
    m.cost.add(s.costNano / 1e9, [route, bounded('model', s.requestModel), bounded('currency', s.currency), backend, s.team === undefined ? '' : attributionLabel('team', s.team, s.labels), s.feature === undefined ? '' : attributionLabel('feature', s.feature, s.labels)])
  }
}
