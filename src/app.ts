// createGateway: the one fetch handler every runtime serves. Adapters hand
// it a config getter (swapped atomically on reload), a fetch for upstream
// calls and a logger; it needs nothing else from its runtime.
//
// An inference request goes to the ingress its path names (one translator per
// client API, see api/ingress.ts) and through the stages in pipeline/; the
// admin endpoints (api/admin.ts) and the probes go through Hono.
import { Hono } from 'hono'
import { GatewayError } from './api/errors.ts'
import type { Ingress } from './api/ingress.ts'
import { registerAdmin } from './api/admin.ts'
import { openaiIngress } from './api/openai/index.ts'
import { responsesIngress, responsesRoute } from './api/responses/index.ts'
import { countTokens, messagesIngress } from './api/messages/index.ts'
import { readJson } from './api/body.ts'
import { authenticate, checkModelAllowed } from './auth/authenticate.ts'
import type { CompiledConfig } from './config/compile.ts'
import type { Aborter, Clock } from './resilience/attempts.ts'
import type { Fleet } from './resilience/fleet.ts'
import type { HealthMonitor } from './resilience/health.ts'
import type { FetchLike } from './providers/types.ts'
import type { Logger } from './telemetry/log.ts'
import type { StateStore } from './state/store.ts'
import { recordRefusal } from './telemetry/metrics.ts'
import { Services } from './pipeline/services.ts'
import { RequestContext, pathOf, requestIdOf } from './pipeline/context.ts'
import { fail } from './pipeline/respond.ts'
import { serve } from './pipeline/serve.ts'

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

type Env = { Bindings: { ctx?: Partial<ExecutionContext> }; Variables: { requestId: string } }

export function createGateway(deps: GatewayDeps): RunningGateway {
  const s = new Services(deps)
  const app = new Hono<Env>()
  const messages = messagesIngress()
  /** The client APIs, by the path each is served on (POST): one translator per API (see api/ingress.ts). */
  const ingresses = new Map<string, Ingress>([
    ['/v1/chat/completions', openaiIngress('chat')],
    ['/v1/completions', openaiIngress('completions')],
    ['/v1/embeddings', openaiIngress('embeddings')],
    ['/v1/responses', responsesIngress({ retentionSeconds: () => s.current().responses.retentionSeconds })],
    ['/v1/messages', messages],
  ])

  app.use(async (c, next) => {
    c.set('requestId', requestIdOf(c.req.raw))
    await next()
    c.res.headers.set('x-request-id', c.get('requestId'))
  })

  app.get('/healthz', (c) => c.json({ status: 'ok' }))
  app.get('/readyz', (c) => (deps.config() ? c.json({ status: 'ready' }) : c.json({ status: 'not ready' }, 503)))
  registerAdmin(app, s)

  // Stored responses, for the key that made them: GET/DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items.
  app.on(['GET', 'DELETE'], '/v1/responses/*', async (c) => {
    const req = c.req.raw
    const principal = await authenticate(s.current(), req.headers)
    const url = new URL(req.url)
    const context = new RequestContext(s, c.get('requestId'), principal, req.headers, c.env?.ctx)
    return (await responsesRoute(req.method, url.pathname, url.searchParams, context)) ?? c.notFound()
  })
  // Anthropic's token counting, its refusals in Anthropic's shape too.
  app.post('/v1/messages/count_tokens', async (c) => {
    const req = c.req.raw
    try {
      const config = s.current()
      const principal = await authenticate(config, req.headers)
      const json = await readJson(req, config.gateway.maxBodyBytes)
      const model = (json.value as { model?: unknown } | null)?.model
      if (typeof model === 'string') checkModelAllowed(principal, model)
      return c.json(await countTokens(json.value))
    } catch (err) {
      return fail(s, err, c.get('requestId'), req, messages)
    }
  })

  app.notFound((c) => fail(s, new GatewayError(404, `Unknown request URL: ${c.req.method} ${new URL(c.req.url).pathname}`, 'invalid_request_error', 'unknown_url'), c.get('requestId') ?? '', c.req.raw))
  app.onError((err, c) => fail(s, err, c.get('requestId') ?? '', c.req.raw))

  return {
    // The inference endpoints skip Hono: its context and middleware chain cost
    // more per request than all the routing they would do here.
    fetch: (request, ctx) => {
      try {
        if (request.method === 'POST') {
          const path = pathOf(request.url)
          const ingress = ingresses.get(path)
          if (ingress) return serve(s, ingress, request, path, ctx)
        }
        return Promise.resolve(app.fetch(request, { ctx }))
      } catch (err) {
        return Promise.reject(err)
      }
    },
    fleet: s.fleet,
    refused: (status, code, message) => {
      recordRefusal(status, code)
      if (deps.config()?.gateway.accessLog) s.refusals.note({ requestId: crypto.randomUUID(), status, code, message, path: '' })
    },
    flush: () => {
      s.refusals.flush()
      return Promise.all([s.spend.flush(), s.recorder.flush(), s.sink?.flush()]).then(() => {})
    },
  }
}
