// createGateway: the one fetch handler every runtime serves. Adapters hand
// it a config getter (swapped atomically on reload), a fetch for upstream
// calls and a logger; it needs nothing else from its runtime.
import { Hono, type Context } from 'hono'
import type * as z from 'zod'
import { GatewayError, badRequest, errorResponse, notFound } from './api/errors.ts'
import { readBodyBytes, readJson, readJsonBody } from './api/body.ts'
import { kservePassthrough, matchKservePath } from './providers/kserve/passthrough.ts'
import { chatRequest, completionRequest, embeddingRequest, feedbackRequest, quickChat, validate } from './api/schemas.ts'
import type { Backend, CompiledConfig, Principal, Route } from './config/compile.ts'
import { ANONYMOUS, authenticate, checkModelAllowed } from './auth/authenticate.ts'
import { modelRoute, resolveRoute } from './routing/resolve.ts'
import { planRequest, type Plan } from './routing/plan.ts'
import { attempt, systemClock, type Aborter, type Answer, type Clock } from './resilience/attempts.ts'
import { Fleet, backendKey } from './resilience/fleet.ts'
import { SharedBreakers } from './resilience/shared-breakers.ts'
import type { HealthMonitor } from './resilience/health.ts'
import type { FetchLike, Operation, Usage } from './providers/types.ts'
import { consoleLogger, type Logger } from './telemetry/log.ts'
import { anyGlob } from './routing/glob.ts'
import type { StateStore } from './state/store.ts'
import { MemoryStore } from './state/memory.ts'
import { ExperimentRecorder } from './experiments/record.ts'
import { AssignmentRing } from './experiments/assignments.ts'
import { experimentReport } from './experiments/report.ts'
import { NANO, costNano, formatNano } from './usage/cost.ts'
import { BudgetExceeded, Limiter, spendOf } from './limits/admission.ts'
import { alertRefusal, checkAlerts } from './limits/alerts.ts'
import { attributionOf, costRecord, usageOf, type Served } from './usage/record.ts'
import { SpendBuffer, dayOf, readSpend } from './usage/spend.ts'
import { HttpSink } from './usage/sink.ts'
import { recordRequest, telemetryOn } from './telemetry/otel.ts'
import { endRefused, startRequest, type RequestTrace } from './telemetry/trace.ts'
import { recordRefusal } from './telemetry/metrics.ts'
import { labelSets } from './telemetry/labels.ts'
import { isoTime } from './telemetry/iso-time.ts'
import { Scrubber } from './telemetry/scrub.ts'
import { RefusalLog } from './telemetry/refusals.ts'

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
  // Secrets are masked wherever an upstream may quote them back (it may echo our key), built on
  // first use. Warnings get every secret of the config in force. What a client sees gets the
  // gateway's own secrets and those of the backends its route can reach: a backend's secrets are
  // its tenant's to choose, and one set to a common phrase must not garble other tenants' errors.
  const scrubbers = new WeakMap<object, Scrubber>()
  const scrubber = (owner: object, values: () => Iterable<string | undefined>) => {
    let s = scrubbers.get(owner)
    if (!s) scrubbers.set(owner, (s = new Scrubber(values)))
    return s
  }
  const gatewayScrubber = (config: CompiledConfig | undefined) => scrubber(config ?? deps, () => gatewaySecrets(config, deps))
  const scrubberOf = (config: CompiledConfig | undefined): Scrubber =>
    config ? scrubber(config.backends, () => secretsOf(config.backends.values(), config, deps)) : gatewayScrubber(config)
  const routeScrubber = (config: CompiledConfig, route: Route) => scrubber(route, () => secretsOf(route.backends.values(), config, deps))
  const log = scrubbingLogger(deps.log ?? consoleLogger, () => scrubberOf(deps.config()))
  const clock: Clock = { ...systemClock, ...deps.clock }
  const now = clock.now
  const store = deps.store ?? new MemoryStore(now)
  // State of this instance alone (no store given): experiment assignments for feedback go in a
  // ring of typed arrays, not an object each. A store given may be shared, so they go there.
  const flushMs = deps.aggregatesFlushMs ?? 1000
  const recorder = new ExperimentRecorder(store, now, deps.store ? undefined : new AssignmentRing(), flushMs)
  const limiter = new Limiter(store, log)
  // Refusals before any attempt (a bad key, a limit): in the access log, a flood summarised.
  const refusals = new RefusalLog(log, now)
  // Errors from attempts have their access line and metrics already; the others are refusals.
  const afterAttempts = new WeakSet<GatewayError>()
  // The route a limit or budget refused on, for the refusal's metrics (refusals before routing have none).
  const refusedOn = new WeakMap<GatewayError, string>()
  const spend = new SpendBuffer(store, flushMs)
  // The cost sink follows the config; a new sink only when its settings change.
  let sinkFor: string | undefined
  let sink: HttpSink | undefined
  const fleet: Fleet = new Fleet({
    clock,
    health: deps.health ? (k) => deps.health!.health(k) : undefined,
    onBreakerChange: (backend, from, to) => {
      log.warn('kortex: circuit breaker changed', { backend, from, to })
      shared?.changed(backend, to)
    },
  })
  // Breakers shared through the store when it can (Redis): trips published and pulled in the background.
  // The gateway's own memory store is this instance's alone: there is no one to share with.
  const board = deps.store && SharedBreakers.of(deps.store)
  const shared = board && new SharedBreakers(board, fleet, log, now)
  const app = new Hono<Env>()

  // Once per new config: backends gone from it leave the fleet (their breakers
  // too), and the cost sink follows its settings.
  let seenConfig: CompiledConfig | undefined
  const sync = (config: CompiledConfig) => {
    if (config === seenConfig) return
    seenConfig = config
    fleet.retain(config.backends.values())
    const o = config.gateway.cost.sink
    if (JSON.stringify(o) === sinkFor) return
    sink?.flush().catch(() => {})
    sinkFor = JSON.stringify(o)
    sink = o && new HttpSink({ url: o.url, token: o.tokenEnv ? deps.secrets?.(o.tokenEnv) : undefined, batchSize: o.batchSize, flushMs: o.flushSeconds * 1000, maxQueue: o.maxQueue, fetch: deps.fetch, log })
  }
  // Background failures are logged at most once a minute, with how many there were: a store
  // outage fails every request's after-work, and one line says so as well as a thousand.
  let bgWarnAt = -Infinity
  let bgFailures = 0
  const waitUntil = (ctx: Partial<ExecutionContext> | undefined, p: Promise<unknown>) => {
    const guarded = p.catch((err) => {
      bgFailures++
      if (now() - bgWarnAt < 60_000) return
      bgWarnAt = now()
      log.warn('kortex: background work failed', { error: err instanceof Error ? err.message : String(err), failuresSinceLastWarning: bgFailures })
      bgFailures = 0
    })
    if (ctx?.waitUntil) ctx.waitUntil(guarded)
  }

  const current = (): CompiledConfig => {
    const c = deps.config()
    if (!c) throw new GatewayError(503, 'The gateway has no configuration loaded yet', 'api_error', 'not_ready')
    return c
  }

  app.use(async (c, next) => {
    c.set('requestId', requestIdOf(c.req.raw))
    await next()
    c.res.headers.set('x-request-id', c.get('requestId'))
  })

  app.get('/healthz', (c) => c.json({ status: 'ok' }))
  app.get('/readyz', (c) => (deps.config() ? c.json({ status: 'ready' }) : c.json({ status: 'not ready' }, 503)))

  app.get('/v1/models', async (c) => {
    const config = current()
    const principal = await authenticate(config, c.req.raw.headers)
    return c.json({ object: 'list', data: visibleModels(config, principal) })
  })
  app.get('/v1/models/:model{.+}', async (c) => {
    const config = current()
    const principal = await authenticate(config, c.req.raw.headers)
    const id = c.req.param('model')
    const m = visibleModels(config, principal).find((x) => x.id === id)
    if (!m) throw new GatewayError(404, `The model '${id}' does not exist`, 'invalid_request_error', 'model_not_found', 'model')
    return c.json(m)
  })

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
        if (sink) work.push(sink.push(record))
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

  /** Admin endpoints: an admin key, or anyone on an open gateway (open means trusted). */
  const admin = async (c: Context<Env>) => {
    const config = current()
    const principal = await authenticate(config, c.req.raw.headers)
    if (!principal.admin && !(config.gateway.auth.open && principal === ANONYMOUS)) {
      throw new GatewayError(403, 'This endpoint needs an admin API key.', 'permission_error', 'admin_required')
    }
    return config
  }

  app.get('/v1/status', async (c) => {
    const config = await admin(c)
    sync(config)
    const backends = [...config.backends.values()].map((b) => {
      const live = fleet.live(b)
      const key = backendKey(b)
      return {
        name: b.name,
        namespace: b.namespace,
        provider: b.provider,
        health: deps.health?.snapshot(key) ?? { health: 'unknown' },
        breaker: fleet.breaker(b).snapshot(),
        inflight: live.inflight,
        maxConcurrency: b.maxConcurrency,
        latencyMs: fleet.latency(b) ?? null,
        requests: live.requests,
        failures: live.failures,
      }
    })
    return c.json({ object: 'status', backends })
  })

  const findExperiment = (config: CompiledConfig, name: string, ns: string | undefined) => {
    const found = config.experiments.filter((e) => e.name === name && (!ns || e.namespace === ns))
    if (!found.length) throw notFound(`No experiment named '${name}'${ns ? ` in namespace '${ns}'` : ''}`, 'experiment_not_found')
    if (found.length > 1) throw new GatewayError(400, `Experiment '${name}' exists in several namespaces; add ?namespace=`, 'invalid_request_error', 'ambiguous_experiment', 'namespace')
    return found[0]!
  }

  app.get('/v1/experiments', async (c) => {
    const config = await admin(c)
    return c.json({ object: 'list', data: config.experiments.map((e) => ({ object: 'experiment', name: e.name, namespace: e.namespace, routes: e.routes, variants: e.variants })) })
  })

  app.get('/v1/experiments/:name', async (c) => {
    const config = await admin(c)
    const exp = findExperiment(config, c.req.param('name'), c.req.query('namespace'))
    return c.json(experimentReport(exp, await recorder.read(exp), now()))
  })

  // Spend from the pooled aggregates: GET /v1/spend?group_by=team&from=2026-11-01&to=2026-11-30
  app.get('/v1/spend', async (c) => {
    await admin(c)
    const groupBy = c.req.query('group_by') ?? 'team'
    if (!/^[a-z][a-z0-9_]{0,31}$/.test(groupBy)) throw badRequest('group_by must be a dimension such as team, feature, key, backend, model or route', 'group_by', 'invalid_value')
    const today = dayOf(now())
    const to = c.req.query('to') ?? today
    const from = c.req.query('from') ?? `${today.slice(0, 8)}01`
    for (const [p, v] of [['from', from], ['to', to]] as const) {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`))) throw badRequest(`${p} must be a date like 2026-11-30`, p, 'invalid_value')
    }
    const days = (Date.parse(to) - Date.parse(from)) / 86_400_000
    if (days < 0 || days > 366) throw badRequest('from must not be after to, and the range at most 366 days', 'from', 'invalid_value')
    await spend.flush()
    return c.json({ object: 'spend', group_by: groupBy, from, to, data: await readSpend(store, groupBy, from, to) })
  })

  // Application metrics for the variant that served a request: {request_id, metric, value}.
  app.post('/v1/feedback', async (c) => {
    const config = current()
    await authenticate(config, c.req.raw.headers)
    const body = validate(feedbackRequest, await readJsonBody(c.req.raw, 64 * 1024))
    const value = typeof body.value === 'boolean' ? Number(body.value) : body.value
    const r = await recorder.feedback(body.request_id, body.metric, value)
    if (r === 'unknown_request') throw notFound(`No experiment request with id '${body.request_id}' (feedback is kept for 7 days, and only for requests an experiment served)`, 'request_not_found', 'request_id')
    if (r === 'duplicate') throw new GatewayError(409, `Feedback '${body.metric}' for request '${body.request_id}' was already recorded`, 'invalid_request_error', 'feedback_already_recorded', 'metric')
    return c.json({ object: 'feedback', request_id: body.request_id, metric: body.metric, value, recorded: true })
  })

  // KServe V1/V2 for predictive models: /kserve/{backend}/v2/models/{m}/infer and friends.
  app.all('/kserve/:backend/*', async (c) => {
    const config = current()
    const req = c.req.raw
    const principal = await authenticate(config, req.headers)
    const name = c.req.param('backend')
    const backend = config.backends.get(`${req.headers.get('x-namespace') ?? 'default'}/${name}`)
    if (!backend || backend.provider !== 'kserve') throw notFound(`No kserve backend named '${name}'`, 'backend_not_found')
    const path = c.req.path.slice(`/kserve/${name}`.length)
    const { model } = matchKservePath(req.method, path)
    if (model) checkModelAllowed(principal, model)
    const body = req.method === 'POST' ? await readBodyBytes(req, config.gateway.maxBodyBytes) : null
    return kservePassthrough({ backend, path, method: req.method, body, contentType: req.headers.get('content-type') ?? undefined, fetch: deps.fetch, signal: req.signal })
  })

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
      return Promise.all([spend.flush(), recorder.flush(), sink?.flush()]).then(() => {})
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

function visibleModels(config: CompiledConfig, principal: Principal) {
  const created = 0
  return config.models
    .filter((m) => !principal.models?.length || anyGlob(principal.models, m.id))
    .map((m) => ({ id: m.id, object: 'model', created, owned_by: `kortex:${m.route}` }))
}

/** The backends' secrets (provider keys, header values) and the gateway's. */
function* secretsOf(backends: Iterable<Backend>, config: CompiledConfig, deps: GatewayDeps): Iterable<string | undefined> {
  for (const b of backends) {
    yield b.apiKey
    yield* Object.values(b.headers)
  }
  yield* gatewaySecrets(config, deps)
}

/** The gateway's own secrets: the cost sink's token, and the runtime's (the controller token). */
function* gatewaySecrets(config: CompiledConfig | undefined, deps: GatewayDeps): Iterable<string | undefined> {
  const env = config?.gateway.cost.sink?.tokenEnv
  if (env) yield deps.secrets?.(env)
  if (deps.secretValues) yield* deps.secretValues()
}

/** The error with any secret in its message, code or param masked (a new one only when something was). */
function scrubError(err: GatewayError, s: Scrubber): GatewayError {
  const message = s.scrub(err.message)
  const code = err.code && s.scrub(err.code)
  const param = err.param && s.scrub(err.param)
  if (message === err.message && code === err.code && param === err.param) return err
  return new GatewayError(err.status, message, err.type, code, param, err.headers)
}

/** Warnings and errors with secrets masked in their fields; records (the access log) are scrubbed where they are built. */
function scrubbingLogger(log: Logger, scrubber: () => Scrubber): Logger {
  return {
    record: (rec) => log.record(rec),
    warn: (message, fields) => log.warn(scrubber().scrub(message), fields && scrubber().fields(fields)),
    error: (message, fields) => log.error(scrubber().scrub(message), fields && scrubber().fields(fields)),
  }
}
