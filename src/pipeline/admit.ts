// Rate limits and budgets: admitted (with the x-ratelimit-* headers and a
// reservation to settle after), or refused with a 429 or 402.
import { GatewayError } from '../api/errors.ts'
import { BudgetExceeded, type Admitted } from '../limits/admission.ts'
import { alertRefusal } from '../limits/alerts.ts'
import { modelRoute } from '../routing/resolve.ts'
import type { Inference } from './inference.ts'
import type { Services } from './services.ts'

/** Undefined, without a promise, when no limit or budget applies (most requests). */
export function admit(s: Services, f: Inference): Promise<Admitted | undefined> | undefined {
  const { config, route, plan, principal, req } = f
  const { model, body } = f.request
  // A route named by X-Route: the model's own route keeps its limits (naming another never escapes them).
  const home = req.headers.has('x-route') ? modelRoute(config, model) : undefined
  const candidates = plan.reserve.length ? [...plan.backends, ...plan.reserve] : plan.backends
  const admission = s.limiter.admit({ config, route, modelRoute: home, principal, keyed: f.keyed, headers: req.headers, body, model, candidates, now: f.started })
  return admission?.catch((err: unknown) => {
    if (err instanceof BudgetExceeded) s.waitUntil(f.ctx, alertRefusal(s.store, err.budget, s.deps.fetch, s.log, s.now()))
    if (err instanceof GatewayError) s.refusedOn.set(err, route.name)
    throw err
  })
}
