// The attempts: the plan's backends in turn, each through its provider, with
// retries, failover and breakers (see resilience/attempts.ts).
import { attempt as attempts, type Answer } from '../resilience/attempts.ts'
import type { Inference } from './inference.ts'
import type { Services } from './services.ts'

export function attempt(s: Services, f: Inference): Promise<Answer> {
  const { request, plan } = f
  // Breaker trips other instances published, pulled in the background before they matter.
  s.shared?.sync((p) => s.waitUntil(f.ctx, p), f.started)
  // request.native, the client's own request, goes to a backend that speaks its protocol; every
  // other backend is sent the internal form.
  return attempts(plan.backends, plan.reserve, {
    op: request.op,
    body: request.body,
    raw: request.raw,
    stream: request.stream,
    clientWantsUsage: request.clientWantsUsage,
    signal: f.req.signal,
    fetch: s.deps.fetch,
    aborter: s.deps.aborter,
    requestId: f.requestId,
    policy: f.route.failover,
    fleet: s.fleet,
    clock: s.clock,
    startedAt: f.started,
    scrub: f.scrub,
    trace: f.traced,
    native: request.native && { ...request.native, headers: f.req.headers },
    nativeOnly: request.nativeOnly,
    forwardHeaders: f.route.forwardHeaders,
  })
}
