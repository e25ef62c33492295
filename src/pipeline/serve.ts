// One inference request, stage by stage: who asks (authenticate), what for
// (parse, by the path's ingress), where it goes (route, plan), whether it may
// (admit), the attempts, the answer (respond) and, after it, the accounts.
import type { ExecutionContext } from '../app.ts'
import { GatewayError } from '../api/errors.ts'
import type { Ingress } from '../api/ingress.ts'
import { readJson } from '../api/body.ts'
import { ANONYMOUS, authenticate } from '../auth/authenticate.ts'
import type { Answer } from '../resilience/attempts.ts'
import { endRefused, startRequest } from '../telemetry/trace.ts'
import { accountFailure } from './account.ts'
import { admit } from './admit.ts'
import { attempt } from './attempt.ts'
import { RequestContext, requestIdOf } from './context.ts'
import { Inference } from './inference.ts'
import { plan } from './plan.ts'
import { answerHeaders, fail, respond } from './respond.ts'
import { route } from './route.ts'
import type { Services } from './services.ts'

// Not an async function: that would add promise hops to every request for nothing.
export function serve(s: Services, ingress: Ingress, request: Request, path: string, ctx: Partial<ExecutionContext> | undefined): Promise<Response> {
  const requestId = requestIdOf(request)
  const started = s.now()
  const traced = startRequest(request, path, started)
  const answer = handle(s, new Inference(ingress, request, path, requestId, started, ctx, traced))
  if (!traced) return answer.catch((err) => fail(s, err, requestId, request, ingress))
  return answer.catch((err) => {
    // After attempts, recordRequest ended the span with the outcome; a refusal ends it here.
    if (!(err instanceof GatewayError && s.afterAttempts.has(err))) {
      endRefused(traced, err instanceof GatewayError ? err.status : 500, err instanceof GatewayError ? (err.code ?? err.type) : 'internal_error', s.now())
    }
    return fail(s, err, requestId, request, ingress)
  })
}

// Each stage answers at once when it can: a promise is awaited only when one came back.
async function handle(s: Services, f: Inference): Promise<Response> {
  const { req } = f
  const config = (f.config = s.current())
  if (f.traced) f.traced.content = config.gateway.telemetry.recordContent

  const auth = authenticate(config, req.headers)
  const principal = (f.principal = auth instanceof Promise ? await auth : auth)
  f.keyed = principal !== ANONYMOUS
  f.context = new RequestContext(s, f.requestId, principal, req.headers, f.ctx)

  const json = await readJson(req, config.gateway.maxBodyBytes)
  const parsed = f.ingress.parse(json.value, json.text, req, f.context)
  f.request = parsed instanceof Promise ? await parsed : parsed

  f.route = route(s, f)
  const planned = plan(s, f)
  f.plan = planned instanceof Promise ? await planned : planned
  const admission = admit(s, f)
  if (admission) f.admitted = await admission
  f.headers = answerHeaders(f)

  let answer: Answer
  try {
    answer = await attempt(s, f)
  } catch (e) {
    throw accountFailure(s, f, e)
  }
  return respond(s, f, answer)
}
