// The backends the request may try, in order: an experiment's variant or the
// rule's pick first, then the failover chain (see routing/plan.ts).
import { planRequest, type Plan } from '../routing/plan.ts'
import type { Inference } from './inference.ts'
import type { Services } from './services.ts'

/** At once, unless a rule must count the prompt's tokens or an experiment's start be read. */
export function plan(s: Services, f: Inference): Plan | Promise<Plan> {
  const { model, body } = f.request
  const input = {
    model,
    path: f.path,
    headers: f.req.headers,
    principal: f.principal,
    keyName: f.keyed ? f.principal.name : undefined,
    body,
    requestId: f.requestId,
    now: f.started,
    random: s.clock.random,
    experimentEnded: s.recorder.ended,
  }
  return planRequest(f.route, input, s.fleet)
}
