// After the answer, never delaying it (all through waitUntil): the access
// line, usage and the cost record, spend, the cost sink, experiment figures,
// metrics and spans, and the limits settled to what the request really used.
// A failure after the attempts and a refusal before them are accounted here too.
import { GatewayError } from '../api/errors.ts'
import type { CompiledConfig } from '../config/compile.ts'
import { authenticate } from '../auth/authenticate.ts'
import { spendOf } from '../limits/admission.ts'
import { checkAlerts } from '../limits/alerts.ts'
import type { Answer } from '../resilience/attempts.ts'
import { NANO } from '../usage/cost.ts'
import { attributionOf, costRecord, usageOf, type Served } from '../usage/record.ts'
import { recordRequest, telemetryOn } from '../telemetry/otel.ts'
import { recordRefusal } from '../telemetry/metrics.ts'
import { labelSets } from '../telemetry/labels.ts'
import { pathOf } from './context.ts'
import type { Inference } from './inference.ts'
import { scrubError } from './secrets.ts'
import type { Services } from './services.ts'

/** How a served request ended: a stream may have failed or been cancelled after its first content. */
export interface Outcome {
  ok: boolean
  ttftMs?: number
  error?: string
  cancelled?: boolean
}

/**
 * The access line; callers check config.gateway.accessLog first, so the fields are not built for nothing.
 * `path` names the client's API (every API is `op` chat inside), as a refusal's line does.
 */
function accessLog(s: Services, f: Inference, extra: Record<string, unknown>): void {
  const { plan, principal } = f
  s.log.record({
    type: 'access',
    time: f.startedIso(),
    requestId: f.requestId,
    path: f.path,
    op: f.request.op,
    model: f.request.model,
    route: f.route.name,
    rule: plan.rule,
    experiment: plan.experiment?.exp.name,
    variant: plan.experiment?.variant.name,
    principal: principal.name,
    team: principal.team,
    latencyMs: s.now() - f.started,
    ...extra,
  })
}

/** Limits and budgets to what the request really used. */
async function settle(s: Services, f: Inference, actual: { ok: boolean; tokens?: number; costNano?: number }): Promise<void> {
  const admitted = f.admitted
  if (!admitted) return
  await s.store.settle(admitted.settlement(actual))
  await checkAlerts(s.store, admitted.budgets.map(spendOf), s.deps.fetch, s.log, s.now())
}

/** Everything after a served answer: usage, cost record, spend, settlement, experiment figures, metrics. */
export async function account(s: Services, f: Inference, answer: Answer, served: Omit<Served, 'backend' | 'requestBody'>, o: Outcome): Promise<void> {
  const { config, route, plan, principal, requestId, started } = f
  const { op, model, body, stream } = f.request
  const reported = usageOf({ usage: served.usage, body: served.body, chunks: served.chunks, backend: answer.backend, requestBody: body })
  const { usage, estimated } = reported instanceof Promise ? await reported : reported
  const latencyMs = s.now() - started
  if (config.gateway.accessLog) accessLog(s, f, { status: 200, backend: answer.backend.name, attempts: answer.attempts, failures: answer.failures.length ? answer.failures : undefined, stream, usage, streamError: o.error, cancelled: o.cancelled || undefined })
  const record = costRecord(
    {
      time: f.startedIso(),
      requestId,
      route: route.name,
      model,
      attribution: attributionOf(config, route, principal, f.keyed, f.req.headers),
      latencyMs,
      ttftMs: o.ttftMs,
      status: 200,
      attempts: answer.attempts,
      experiment: plan.experiment?.exp.name,
      variant: plan.experiment?.variant.name,
    },
    answer.backend,
    usage,
    estimated,
  )
  const work: Promise<unknown>[] = []
  if (f.admitted) work.push(settle(s, f, { ok: o.ok, tokens: usage.total_tokens, costNano: record.costNano }))
  if (route.costTracking) {
    s.log.record(record as unknown as Record<string, unknown>)
    const window = s.spend.add(record, started)
    if (window) work.push(window)
    if (s.sink) work.push(s.sink.push(record))
  }
  if (plan.experiment && !o.cancelled) {
    work.push(
      s.recorder.record(plan.experiment.exp, plan.experiment.variant.name, requestId, {
        ok: o.ok && answer.backend.name === plan.experiment.variant.backend,
        latencyMs,
        ttftMs: o.ttftMs,
        inputTokens: usage.prompt_tokens,
        outputTokens: usage.completion_tokens,
        cost: record.costNano / NANO,
      }),
    )
  }
  if (telemetryOn()) recordRequest({
    op,
    requestModel: model,
    responseModel: served.body && typeof served.body.model === 'string' ? served.body.model : undefined,
    provider: answer.backend.provider,
    backend: answer.backend.name,
    route: route.name,
    startTime: started,
    endTime: s.now(),
    ttftMs: o.ttftMs,
    stream,
    status: 200,
    errorType: o.error ? 'stream_error' : undefined,
    inputTokens: usage.prompt_tokens,
    outputTokens: usage.completion_tokens,
    cachedInputTokens: record.cachedInputTokens,
    costNano: record.costNano,
    currency: record.currency ?? undefined,
    // The key's team, else the request's attribution header: a client-chosen value, bounded by telemetry.labels or the cap.
    team: record.attribution.team,
    feature: record.attribution.feature,
    labels: labelSets(config.gateway),
    attempts: answer.attempts,
    failures: answer.failures,
    cancelled: o.cancelled,
    requestId,
    experiment: plan.experiment?.exp.name,
    variant: plan.experiment?.variant.name,
  }, f.traced)
  if (work.length === 1) await work[0]
  else if (work.length) await Promise.all(work)
}

/**
 * The attempts failed: the error masked with this request's secrets (a reload since may have rotated one
 * the upstream quotes back), with the answer's headers, accounted; returned for the client.
 */
export function accountFailure(s: Services, f: Inference, e: unknown): unknown {
  const err = e instanceof GatewayError ? scrubError(e, f.scrub) : e
  if (!(err instanceof GatewayError)) return err
  const { config, route, plan, principal, requestId, started } = f
  const { op, model, stream } = f.request
  Object.assign(err.headers, f.headers)
  const attempts = Number(err.headers['x-kortex-attempts'] ?? 0)
  const errorType = err.code ?? err.type
  s.afterAttempts.add(err)
  // The status the client gets, which its API may word differently (a Messages client gets Anthropic's 529 for an upstream's overload).
  const status = f.ingress.status?.(err) ?? err.status
  if (config.gateway.accessLog) accessLog(s, f, { status, error: errorType, attempts })
  if (telemetryOn()) recordRequest({ op, requestModel: model, route: route.name, startTime: started, endTime: s.now(), stream, status, errorType, attempts, requestId, team: principal.team, experiment: plan.experiment?.exp.name, variant: plan.experiment?.variant.name }, f.traced)
  const upstreamFault = err.status >= 500 || err.status === 429
  s.waitUntil(f.ctx, settle(s, f, { ok: false }))
  if (plan.experiment && upstreamFault) s.waitUntil(f.ctx, s.recorder.record(plan.experiment.exp, plan.experiment.variant.name, requestId, { ok: false, latencyMs: s.now() - started }))
  return err
}

/** A refusal before any attempt (a bad key, a limit): counted, and in the access log, with the principal when the key is known. */
export function accountRefusal(s: Services, err: GatewayError, route: string | undefined, requestId: string, req: Request, config: CompiledConfig | undefined): void {
  recordRefusal(err.status, err.code ?? err.type, route)
  if (!config?.gateway.accessLog || err.status < 400 || err.status >= 500) return
  let principal: string | undefined
  // The endpoints look the key up first, so it is in the cache and this answers at once. An unknown
  // URL never looked: its key is not hashed now either (a scan would pay for hashing).
  if (err.code !== 'unknown_url') {
    try {
      const p = authenticate(config, req.headers)
      if (!(p instanceof Promise)) principal = p.name
      else p.catch(() => {})
    } catch {
      /* no key, or a wrong one: no principal */
    }
  }
  s.refusals.note({ requestId, status: err.status, code: err.code ?? err.type, message: err.message, path: pathOf(req.url), principal })
}
