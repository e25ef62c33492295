// createGateway: the one fetch handler every runtime serves. Adapters hand
// it a config getter (swapped atomically on reload), a fetch for upstream
// calls and a logger; it needs nothing else from its runtime.
import { Hono, type Context } from 'hono'
import type * as z from 'zod'
import { GatewayError, errorResponse, notFound } from './api/errors.ts'
import { readBodyBytes, readJsonBody } from './api/body.ts'
import { kservePassthrough, matchKservePath } from './providers/kserve/passthrough.ts'
import { chatRequest, completionRequest, embeddingRequest, validate } from './api/schemas.ts'
import type { CompiledConfig, Principal } from './config/compile.ts'
import { authenticate, checkModelAllowed } from './auth/authenticate.ts'
import { resolveRoute } from './routing/resolve.ts'
import { planBackends } from './routing/plan.ts'
import { attempt, type Answer } from './resilience/attempts.ts'
import type { FetchLike, Operation } from './providers/types.ts'
import { consoleLogger, type Logger } from './telemetry/log.ts'
import { anyGlob } from './routing/glob.ts'

export interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void
}

export interface GatewayDeps {
  /** The config in force; undefined until one has loaded (then /readyz says 503). */
  config: () => CompiledConfig | undefined
  fetch: FetchLike
  log?: Logger
  now?: () => number
}

export interface Gateway {
  fetch(request: Request, ctx?: Partial<ExecutionContext>): Promise<Response>
}

const REQUEST_ID = /^[\w.:-]{1,128}$/
const schemas: Record<Operation, z.ZodType<Record<string, unknown>>> = { chat: chatRequest, completions: completionRequest, embeddings: embeddingRequest }

type Env = { Bindings: { ctx?: Partial<ExecutionContext> }; Variables: { requestId: string } }

export function createGateway(deps: GatewayDeps): Gateway {
  const log = deps.log ?? consoleLogger
  const now = deps.now ?? Date.now
  const app = new Hono<Env>()

  const current = (): CompiledConfig => {
    const c = deps.config()
    if (!c) throw new GatewayError(503, 'The gateway has no configuration loaded yet', 'api_error', 'not_ready')
    return c
  }

  app.use(async (c, next) => {
    const given = c.req.header('x-request-id')
    c.set('requestId', given && REQUEST_ID.test(given) ? given : crypto.randomUUID())
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

  const handle = (op: Operation) => async (c: Context<Env>) => {
    const started = now()
    const config = current()
    const req = c.req.raw
    const requestId = c.get('requestId')
    const principal = await authenticate(config, req.headers)
    const body = validate(schemas[op], await readJsonBody(req, config.gateway.maxBodyBytes)) as Record<string, unknown> & { model: string }
    const model = body.model
    checkModelAllowed(principal, model)
    const route = resolveRoute(config, model, req.headers)
    const plan = planBackends(config, route, { model, path: c.req.path, headers: req.headers })
    const stream = op !== 'embeddings' && body.stream === true
    const streamOptions = body.stream_options as { include_usage?: boolean } | null | undefined
    const ctx = c.env?.ctx

    let answer: Answer
    try {
      answer = await attempt(plan, {
        op,
        body,
        stream,
        clientWantsUsage: streamOptions?.include_usage === true,
        signal: req.signal,
        fetch: deps.fetch,
        requestId,
        attemptTimeoutMs: route.attemptTimeoutMs,
      })
    } catch (err) {
      if (err instanceof GatewayError) {
        accessLog({ status: err.status, error: err.code ?? err.type })
      }
      throw err
    }

    const headers: Record<string, string> = {
      'x-kortex-route': route.name,
      'x-kortex-backend': answer.backend.name,
      'x-kortex-attempts': String(answer.attempts),
    }
    function accessLog(extra: Record<string, unknown>) {
      if (!config.gateway.accessLog) return
      log.record({
        type: 'access',
        time: new Date(started).toISOString(),
        requestId,
        op,
        model,
        route: route.name,
        principal: principal.name,
        team: principal.team,
        latencyMs: now() - started,
        ...extra,
      })
    }
    const summary = () => ({
      backend: answer.backend.name,
      attempts: answer.attempts,
      failures: answer.failures.length ? answer.failures : undefined,
      stream,
    })

    if (answer.kind === 'json') {
      accessLog({ status: 200, ...summary(), usage: answer.body.usage })
      headers['content-type'] = 'application/json'
      return new Response(answer.raw ?? JSON.stringify(answer.body), { status: 200, headers })
    }
    const done = answer.done.then((o) => accessLog({ status: 200, ...summary(), usage: o.usage, streamError: o.error, cancelled: o.cancelled || undefined }))
    ctx?.waitUntil?.(done)
    headers['content-type'] = 'text/event-stream; charset=utf-8'
    headers['cache-control'] = 'no-cache'
    return new Response(answer.body, { status: 200, headers })
  }

  app.post('/v1/chat/completions', handle('chat'))
  app.post('/v1/completions', handle('completions'))
  app.post('/v1/embeddings', handle('embeddings'))

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

  app.notFound((c) => errorResponse(new GatewayError(404, `Unknown request URL: ${c.req.method} ${new URL(c.req.url).pathname}`, 'invalid_request_error', 'unknown_url'), { 'x-request-id': c.get('requestId') ?? '' }))

  app.onError((err, c) => {
    const requestId = c.get('requestId') ?? ''
    if (err instanceof GatewayError) return errorResponse(err, { 'x-request-id': requestId })
    log.error('unhandled error', { requestId, error: err instanceof Error ? err.message : String(err) })
    return errorResponse(new GatewayError(500, 'The gateway hit an internal error; the request id is in x-request-id.', 'api_error', 'internal_error'), { 'x-request-id': requestId })
  })

  return {
    fetch: async (request, ctx) => app.fetch(request, { ctx }),
  }
}

function visibleModels(config: CompiledConfig, principal: Principal) {
  const created = 0
  return config.models
    .filter((m) => !principal.models?.length || anyGlob(principal.models, m.id))
    .map((m) => ({ id: m.id, object: 'model', created, owned_by: `kortex:${m.route}` }))
}
