// The gateway's own endpoints beside inference: the models a key may use,
// backend status, experiment reports, spend, experiment feedback, and the
// KServe V1/V2 passthrough for predictive models. Errors are OpenAI-shaped.
import type { Context, Env, Hono } from 'hono'
import * as z from 'zod'
import { GatewayError, badRequest, notFound } from './errors.ts'
import { readBodyBytes, readJsonBody } from './body.ts'
import { validate } from './schemas.ts'
import type { CompiledConfig, Principal } from '../config/compile.ts'
import { ANONYMOUS, authenticate, checkModelAllowed } from '../auth/authenticate.ts'
import { anyGlob } from '../routing/glob.ts'
import { backendKey } from '../resilience/fleet.ts'
import { experimentReport } from '../experiments/report.ts'
import { dayOf, readSpend } from '../usage/spend.ts'
import { kservePassthrough, matchKservePath } from '../providers/kserve/passthrough.ts'
import type { Services } from '../pipeline/services.ts'

const feedbackRequest = z.strictObject({
  request_id: z.string().min(1).max(128),
  metric: z.string().regex(/^[A-Za-z][\w.-]{0,63}$/, 'must be a name of letters, digits, _ . - (at most 64)'),
  value: z.union([z.number().refine(Number.isFinite, 'must be a finite number'), z.boolean()]),
})

export function registerAdmin<E extends Env>(app: Hono<E>, s: Services): void {
  const { fleet, recorder, store, deps } = s

  app.get('/v1/models', async (c) => {
    const config = s.current()
    const principal = await authenticate(config, c.req.raw.headers)
    return c.json({ object: 'list', data: visibleModels(config, principal) })
  })
  app.get('/v1/models/:model{.+}', async (c) => {
    const config = s.current()
    const principal = await authenticate(config, c.req.raw.headers)
    const id = c.req.param('model')
    const m = visibleModels(config, principal).find((x) => x.id === id)
    if (!m) throw new GatewayError(404, `The model '${id}' does not exist`, 'invalid_request_error', 'model_not_found', 'model')
    return c.json(m)
  })

  /** Admin endpoints: an admin key, or anyone on an open gateway (open means trusted). */
  const admin = async (c: Context<E>) => {
    const config = s.current()
    const principal = await authenticate(config, c.req.raw.headers)
    if (!principal.admin && !(config.gateway.auth.open && principal === ANONYMOUS)) {
      throw new GatewayError(403, 'This endpoint needs an admin API key.', 'permission_error', 'admin_required')
    }
    return config
  }

  app.get('/v1/status', async (c) => {
    const config = await admin(c)
    s.sync(config)
    const backends = [...config.backends.values()].map((b) => {
      const live = fleet.live(b)
      return {
        name: b.name,
        namespace: b.namespace,
        provider: b.provider,
        health: deps.health?.snapshot(backendKey(b)) ?? { health: 'unknown' },
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

  app.get('/v1/experiments', async (c) => {
    const config = await admin(c)
    return c.json({ object: 'list', data: config.experiments.map((e) => ({ object: 'experiment', name: e.name, namespace: e.namespace, routes: e.routes, variants: e.variants })) })
  })

  app.get('/v1/experiments/:name', async (c) => {
    const config = await admin(c)
    const exp = findExperiment(config, c.req.param('name'), c.req.query('namespace'))
    return c.json(experimentReport(exp, await recorder.read(exp), s.now()))
  })

  // Spend from the pooled aggregates: GET /v1/spend?group_by=team&from=2026-11-01&to=2026-11-30
  app.get('/v1/spend', async (c) => {
    await admin(c)
    const groupBy = c.req.query('group_by') ?? 'team'
    if (!/^[a-z][a-z0-9_]{0,31}$/.test(groupBy)) throw badRequest('group_by must be a dimension such as team, feature, key, backend, model or route', 'group_by', 'invalid_value')
    const today = dayOf(s.now())
    const to = c.req.query('to') ?? today
    const from = c.req.query('from') ?? `${today.slice(0, 8)}01`
    for (const [p, v] of [['from', from], ['to', to]] as const) {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`))) throw badRequest(`${p} must be a date like 2026-11-30`, p, 'invalid_value')
    }
    const days = (Date.parse(to) - Date.parse(from)) / 86_400_000
    if (days < 0 || days > 366) throw badRequest('from must not be after to, and the range at most 366 days', 'from', 'invalid_value')
    await s.spend.flush()
    return c.json({ object: 'spend', group_by: groupBy, from, to, data: await readSpend(store, groupBy, from, to) })
  })

  // Application metrics for the variant that served a request: {request_id, metric, value}.
  app.post('/v1/feedback', async (c) => {
    const config = s.current()
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
    const config = s.current()
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
}

function findExperiment(config: CompiledConfig, name: string, ns: string | undefined) {
  const found = config.experiments.filter((e) => e.name === name && (!ns || e.namespace === ns))
  if (!found.length) throw notFound(`No experiment named '${name}'${ns ? ` in namespace '${ns}'` : ''}`, 'experiment_not_found')
  if (found.length > 1) throw new GatewayError(400, `Experiment '${name}' exists in several namespaces; add ?namespace=`, 'invalid_request_error', 'ambiguous_experiment', 'namespace')
  return found[0]!
}

function visibleModels(config: CompiledConfig, principal: Principal) {
  const created = 0
  return config.models
    .filter((m) => !principal.models?.length || anyGlob(principal.models, m.id))
    .map((m) => ({ id: m.id, object: 'model', created, owned_by: `kortex:${m.route}` }))
}
