// createGateway: the one fetch handler every runtime serves. Adapters hand
// it a config getter (swapped atomically on reload), a fetch for upstream
// calls and a logger; it needs nothing else from its runtime.
import { Hono } from 'hono'
import type * as z from 'zod'
import { GatewayError, errorResponse } from './api/errors.ts'
import { readJson } from './api/body.ts'
import { validate } from './api/schemas.ts'
import { chatRequest, completionRequest, embeddingRequest, quickChat } from './api/openai/schemas.ts'
import { registerAdmin } from './api/admin.ts'
import type { CompiledConfig, Route } from './config/compile.ts'
import { ANONYMOUS, authenticate, checkModelAllowed } from './auth/authenticate.ts'
import { modelRoute, resolveRoute } from './routing/resolve.ts'
import { planRequest } from './routing/plan.ts'
import { attempt, type Aborter, type Answer, type Clock } from './resilience/attempts.ts'
import type { Fleet } from './resilience/fleet.ts'
import type { HealthMonitor } from './resilience/health.ts'
import type { FetchLike, Operation, Usage } from './providers/types.ts'
import type { Logger } from './telemetry/log.ts'
import type { StateStore } from './state/store.ts'
import { NANO, costNano, formatNano } from './usage/cost.ts'
import { BudgetExceeded, spendOf } from './limits/admission.ts'
import { alertRefusal, checkAlerts } from './limits/alerts.ts'
import { attributionOf, costRecord, usageOf, type Served } from './usage/record.ts'
import { recordRequest, telemetryOn } from './telemetry/otel.ts'
import { endRefused, startRequest, type RequestTrace } from './telemetry/trace.ts'
import { recordRefusal } from './telemetry/metrics.ts'
import { labelSets } from './telemetry/labels.ts'
import { isoTime } from './telemetry/iso-time.ts'
import { Services } from './pipeline/services.ts'
import { scrubError } from './pipeline/secrets.ts'

export interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void
}

export interface GatewayDeps {
  /** The config in force; undefined until one has loaded (then /readyz says 503). */
  config: () => CompiledConfig | undefined
  fetch: FetchLike
  log?: Logger
  /** Shared state (experiment aggregates); in memory, for this instance only, when absent. */
  store?: StateStore
  /** Active health checks, run by the adapter (timers are a runtime matter); none when absent. */
  health?: HealthMonitor
  /** Time, randomness and waiting, injected so tests need no sleeps. */
  clock?: Partial<Clock>
  /** Environment variables or bindings, for secrets the gateway settings name (the cost sink's token). */
  secrets?: (name: string) => string | undefined
  /** Makes each attempt's abort controller; a runtime whose `fetch` takes a cheaper signal can say so (Node). */
  aborter?: () => Aborter
  /** Secrets the runtime holds beyond the config's (the controller's token): masked wherever the config's are. */
  secretValues?: () => Iterable<string | undefined>
  /** The longest spend and experiment aggregates wait to be written to the store (default 1000 ms; tests use 0). */
  aggregatesFlushMs?: number
}

export interface Gateway {
  fetch(request: Request, ctx?: Partial<ExecutionContext>): Promise<Response>
}

export interface RunningGateway extends Gateway {
  /** Live backend state: breakers, in flight, latency. */
  fleet: Fleet
  /** Writes what is gathered for later (spend and experiment aggregates, the cost sink's queue): call before shutting down. */
  flush(): Promise<void>
  /** A refusal the runtime's server made itself (a request it could not parse): counted and logged as the gateway's are. */
  refused(status: number, code: string, message: string): void
}

const REQUEST_ID = /^[\w.:-]{1,128}$/
const schemas: Record<Operation, z.ZodType<Record<string, unknown>>> = { chat: chatRequest, completions: completionRequest, embeddings: embeddingRequest }

type Env = { Bindings: { ctx?: Partial<ExecutionContext> }; Variables: { requestId: string } }

export function createGateway(deps: GatewayDeps): RunningGateway {
  const s = new Services(deps)
  const { log, clock, now, store, recorder, limiter, refusals, afterAttempts, refusedOn, spend, fleet, shared } = s
  const sync = (config: CompiledConfig) => s.sync(config)
  const waitUntil = (ctx: Partial<ExecutionContext> | undefined, p: Promise<unknown>) => s.waitUntil(ctx, p)
  const current = () => s.current()
  const routeScrubber = (config: CompiledConfig, route: Route) => s.scrubbers.route(config, route)
  const gatewayScrubber = (config: CompiledConfig | undefined) => s.scrubbers.gateway(config)
  const app = new Hono<Env>()

  app.use(async (c, next) => {
    c.set('requestId', requestIdOf(c.req.raw))
    await next()
    c.res.headers.set('x-request-id', c.get('requestId'))
  })

  app.get('/healthz', (c) => c.json({ status: 'ok' }))
  app.get('/readyz', (c) => (deps.config() ? c.json({ status: 'ready' }) : c.json({ status: 'not ready' }, 503)))

  registerAdmin(app, s)

  const handle = async (op: Operation, req: Request, path: string, requestId: string, ctx: Partial<ExecutionContext> | undefined, started: number, traced: RequestTrace | undefined): Promise<Response> => {
    const config = current()
    if (traced) traced.content = config.gateway.telemetry.recordContent
    const auth = authenticate(config, req.headers)
    const principal = auth instanceof Promise ? await auth : auth
    const keyed = principal !== ANONYMOUS
    const json = await readJson(req, config.gateway.maxBodyBytes)
    const body = validate(schemas[op], json.value, op === 'chat' ? quickChat : undefined) as Record<string, unknown> & { model: string }
    const model = body.model
    checkModelAllowed(principal, model)
    const route = resolveRoute(config, model, req.headers, principal)
    sync(config)
    const scrub = routeScrubber(config, route)
    const planned = planRequest(
      route,
      { model, path, headers: req.headers, principal, keyName: keyed ? principal.name : undefined, body, requestId, now: started, random: clock.random, experimentEnded: recorder.ended },
      fleet,
    )
    const plan = planned instanceof Promise ? await planned : planned
    // A route named by X-Route: the model's own route keeps its limits (naming another never escapes them).
    const home = req.headers.has('x-route') ? modelRoute(config, model) : undefined
    const admission = limiter.admit({ config, route, modelRoute: home, principal, keyed, headers: req.headers, body, model, candidates: plan.reserve.length ? [...plan.backends, ...plan.reserve] : plan.backends, now: started })
    const admitted = admission === undefined ? undefined : await admission.catch((err: unknown) => {
      if (err instanceof BudgetExceeded) waitUntil(ctx, alertRefusal(store, err.budget, deps.fetch, log, now()))
      if (err instanceof GatewayError) refusedOn.set(err, route.name)
      throw err
    })
    const stream = op !== 'embeddings' && body.stream === true
    const streamOptions = body.stream_options as { include_usage?: boolean } | null | undefined
    shared?.sync((p) => waitUntil(ctx, p), started)

    const headers: Record<string, string> = { 'x-request-id': requestId, 'x-kortex-route': route.name }
    if (admitted) Object.assign(headers, admitted.headers)
    if (plan.rule) headers['x-kortex-rule'] = plan.rule
    if (plan.experiment) {
      headers['x-kortex-experiment'] = plan.experiment.exp.name
      headers['x-kortex-variant'] = plan.experiment.variant.name
    }
    // The access line and the cost record share one timestamp, made once.
    let time: string | undefined
    const startedIso = () => (time ??= isoTime(started))
    // Callers check config.gateway.accessLog first: the fields are not built for nothing.
    const accessLog = (extra: Record<string, unknown>) => {
      log.record({
        type: 'access',
        time: startedIso(),
        requestId,
        op,
        model,
        route: route.name,
        rule: plan.rule,
        experiment: plan.experiment?.exp.name,
        variant: plan.experiment?.variant.name,
        principal: principal.name,
        team: principal.team,
        latencyMs: now() - started,
        ...extra,
      })
    }

    let answer: Answer
    try {
      answer = await attempt(plan.backends, plan.reserve, {
        op,
        body,
        raw: json.text,
        stream,
        clientWantsUsage: streamOptions?.include_usage === true,
        signal: req.signal,
        fetch: deps.fetch,
        aborter: deps.aborter,
        requestId,
        policy: route.failover,
        fleet,
        clock,
        startedAt: started,
        scrub,
        trace: traced,
      })
    } catch (e) {
      // Masked with this request's secrets: a reload since may have rotated one the upstream quotes back.
      const err = e instanceof GatewayError ? scrubError(e, scrub) : e
      if (err instanceof GatewayError) {
        Object.assign(err.headers, headers)
        const attempts = Number(err.headers['x-kortex-attempts'] ?? 0)
        const errorType = err.code ?? err.type
        afterAttempts.add(err)
        if (config.gateway.accessLog) accessLog({ status: err.status, error: errorType, attempts })
        if (telemetryOn()) recordRequest({ op, requestModel: model, route: route.name, startTime: started, endTime: now(), stream, status: err.status, errorType, attempts, requestId, team: principal.team, experiment: plan.experiment?.exp.name, variant: plan.experiment?.variant.name }, traced)
        const upstreamFault = err.status >= 500 || err.status === 429
        waitUntil(ctx, settle({ ok: false }))
        if (plan.experiment && upstreamFault) waitUntil(ctx, recorder.record(plan.experiment.exp, plan.experiment.variant.name, requestId, { ok: false, latencyMs: now() - started }))
      }
      throw err
    }

    headers['x-kortex-backend'] = answer.backend.name
    headers['x-kortex-attempts'] = String(answer.attempts)

    /** Limits and budgets to what the request really used. */
    async function settle(actual: { ok: boolean; tokens?: number; costNano?: number }) {
      if (!admitted) return
      await store.settle(admitted.settlement(actual))
      await checkAlerts(store, admitted.budgets.map(spendOf), deps.fetch, log, now())
    }

    /** Everything after the response: usage, cost record, spend, settlement, experiment figures. */
    const after = async (served: Omit<Served, 'backend' | 'requestBody'>, o: { ok: boolean; ttftMs?: number; error?: string; cancelled?: boolean }) => {
      const reported = usageOf({ usage: served.usage, body: served.body, chunks: served.chunks, backend: answer.backend, requestBody: body })
      const { usage, estimated } = reported instanceof Promise ? await reported : reported
      const latencyMs = now() - started
      if (config.gateway.accessLog) accessLog({ status: 200, backend: answer.backend.name, attempts: answer.attempts, failures: answer.failures.length ? answer.failures : undefined, stream, usage, streamError: o.error, cancelled: o.cancelled || undefined })
      const record = costRecord(
        {
          time: startedIso(),
          requestId,
          route: route.name,
          model,
          attribution: attributionOf(config, route, principal, keyed, req.headers),
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
      if (admitted) work.push(settle({ ok: o.ok, tokens: usage.total_tokens, costNano: record.costNano }))
      if (route.costTracking) {
        log.record(record as unknown as Record<string, unknown>)
        const window = spend.add(record, started)
        if (window) work.push(window)
        if (s.sink) work.push(s.sink.push(record))
      }
      if (plan.experiment && !o.cancelled) {
        work.push(
          recorder.record(plan.experiment.exp, plan.experiment.variant.name, requestId, {
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
        endTime: now(),
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
      }, traced)
      if (work.length === 1) await work[0]
      else if (work.length) await Promise.all(work)
    }

    if (answer.kind === 'json') {
      const usage = answer.body.usage as Usage | undefined
      if (config.gateway.cost.header) {
        const nano = costNano(answer.backend, usage)
        if (nano !== undefined && usage) headers['x-kortex-cost'] = formatNano(nano)
      }
      waitUntil(ctx, after({ usage, body: answer.body }, { ok: true }))
      headers['content-type'] = 'application/json'
      return new Response(answer.raw ?? JSON.stringify(answer.body), { status: 200, headers })
    }
    const ttftMs = now() - started
    waitUntil(
      ctx,
      answer.done.then((o) => after({ usage: o.usage, chunks: o.chunks }, { ok: !o.error, ttftMs, error: o.error, cancelled: o.cancelled })),
    )
    headers['content-type'] = 'text/event-stream; charset=utf-8'
    headers['cache-control'] = 'no-cache'
    return new Response(answer.body, { status: 200, headers })
  }

  app.notFound((c) => failed(new GatewayError(404, `Unknown request URL: ${c.req.method} ${new URL(c.req.url).pathname}`, 'invalid_request_error', 'unknown_url'), c.get('requestId') ?? '', c.req.raw))

  /** A refusal before any attempt goes in the access log, with the principal when the key is known. */
  const refused = (err: GatewayError, requestId: string, req: Request, config: CompiledConfig) => {
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
    refusals.note({ requestId, status: err.status, code: err.code ?? err.type, message: err.message, path: pathOf(req.url), principal })
  }

  const failed = (err: unknown, requestId: string, req: Request) => {
    if (err instanceof GatewayError) {
      const config = deps.config()
      // After attempts it is masked already, with its route's secrets; before, it holds no upstream's words.
      const after = afterAttempts.has(err)
      const clean = after ? err : scrubError(err, gatewayScrubber(config))
      if (!after) {
        recordRefusal(err.status, clean.code ?? clean.type, refusedOn.get(err))
        if (config?.gateway.accessLog && err.status >= 400 && err.status < 500) refused(clean, requestId, req, config)
      }
      return errorResponse(clean, { 'x-request-id': requestId })
    }
    log.error('unhandled error', { requestId, error: err instanceof Error ? err.message : String(err) })
    return errorResponse(new GatewayError(500, 'The gateway hit an internal error; the request id is in x-request-id.', 'api_error', 'internal_error'), { 'x-request-id': requestId })
  }
  app.onError((err, c) => failed(err, c.get('requestId') ?? '', c.req.raw))

  // The inference endpoints skip Hono: its context and middleware chain cost
  // more per request than all the routing they would do here.
  // Neither is an async function: each would add promise hops to every request for nothing.
  const serve = (op: Operation, request: Request, path: string, ctx: Partial<ExecutionContext> | undefined): Promise<Response> => {
    const requestId = requestIdOf(request)
    const started = now()
    const traced = startRequest(request, path, started)
    const answer = handle(op, request, path, requestId, ctx, started, traced)
    if (!traced) return answer.catch((err) => failed(err, requestId, request))
    return answer.catch((err) => {
      // After attempts, recordRequest ended the span with the outcome; a refusal ends it here.
      if (!(err instanceof GatewayError && afterAttempts.has(err))) {
        endRefused(traced, err instanceof GatewayError ? err.status : 500, err instanceof GatewayError ? (err.code ?? err.type) : 'internal_error', now())
      }
      return failed(err, requestId, request)
    })
  }

  return {
    fetch: (request, ctx) => {
      try {
        if (request.method === 'POST') {
          const path = pathOf(request.url)
          const op = INFERENCE.get(path)
          if (op) return serve(op, request, path, ctx)
        }
        return Promise.resolve(app.fetch(request, { ctx }))
      } catch (err) {
        return Promise.reject(err)
      }
    },
    fleet,
    refused: (status, code, message) => {
      recordRefusal(status, code)
      if (deps.config()?.gateway.accessLog) refusals.note({ requestId: crypto.randomUUID(), status, code, message, path: '' })
    },
    flush: () => {
      refusals.flush()
      return Promise.all([spend.flush(), recorder.flush(), s.sink?.flush()]).then(() => {})
    },
  }
}

const INFERENCE = new Map<string, Operation>([
  ['/v1/chat/completions', 'chat'],
  ['/v1/completions', 'completions'],
  ['/v1/embeddings', 'embeddings'],
])

/** The client's request id when it is a sane one, else a new one. */
function requestIdOf(request: Request): string {
  const given = request.headers.get('x-request-id')
  return given && REQUEST_ID.test(given) ? given : crypto.randomUUID()
}

/** A URL's path, without query or fragment, as Hono reads it (no decoding). */
function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2)
  if (start === -1) return '/'
  let end = start
  while (end < url.length && url.charCodeAt(end) !== 63 /* ? */ && url.charCodeAt(end) !== 35 /* # */) end++
  return url.slice(start, end)
}
