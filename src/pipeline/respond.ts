// The answer to the client, in its API's shape: the ingress translates the
// internal answer (the OpenAI ingress hands it back as it is, and then the
// upstream's bytes go out untouched), and every error goes through its error().
import { GatewayError, errorResponse } from '../api/errors.ts'
import type { Ingress } from '../api/ingress.ts'
import type { Answer } from '../resilience/attempts.ts'
import { responseBody, type Usage } from '../providers/types.ts'
import { costNano, formatNano } from '../usage/cost.ts'
import { account, accountRefusal } from './account.ts'
import type { Inference } from './inference.ts'
import { scrubError } from './secrets.ts'
import type { Services } from './services.ts'

/** The headers every answer carries, a failure's too: the request id, route, rule, experiment, rate limits. */
export function answerHeaders(f: Inference): Record<string, string> {
  const { plan, admitted } = f
  const headers: Record<string, string> = { 'x-request-id': f.requestId, 'x-kortex-route': f.route.name }
  if (admitted) Object.assign(headers, admitted.headers)
  if (plan.rule) headers['x-kortex-rule'] = plan.rule
  if (plan.experiment) {
    headers['x-kortex-experiment'] = plan.experiment.exp.name
    headers['x-kortex-variant'] = plan.experiment.variant.name
  }
  return headers
}

/**
 * The served answer, its accounting handed to waitUntil first. A translator that hands back the
 * very body it was given (the OpenAI ingress) gets the upstream's bytes sent as they came; a
 * synchronous translation adds no promise hop.
 */
export function respond(s: Services, f: Inference, answer: Answer): Response | Promise<Response> {
  const { headers, ingress, request, context } = f
  headers['x-kortex-backend'] = answer.backend.name
  headers['x-kortex-attempts'] = String(answer.attempts)
  if (answer.kind === 'json') {
    // A native answer is in the client's own protocol already: its usage comes read into the internal form.
    const usage = answer.native ? answer.usage : (answer.body.usage as Usage | undefined)
    if (f.config.gateway.cost.header) {
      const nano = costNano(answer.backend, usage)
      if (nano !== undefined && usage) headers['x-kortex-cost'] = formatNano(nano)
    }
    s.waitUntil(f.ctx, account(s, f, answer, { usage, body: answer.body }, { ok: true }))
    headers['content-type'] = 'application/json'
    if (answer.native) return new Response(answer.raw, { status: 200, headers })
    const out = ingress.respond(answer.body, request, context)
    if (out === answer.body) return new Response(answer.raw ?? JSON.stringify(out), { status: 200, headers })
    if (out instanceof Promise) return out.then((o) => new Response(JSON.stringify(o), { status: 200, headers }))
    return new Response(JSON.stringify(out), { status: 200, headers })
  }
  const ttftMs = s.now() - f.started
  s.waitUntil(
    f.ctx,
    answer.done.then((o) => account(s, f, answer, { usage: o.usage, chunks: o.chunks }, { ok: !o.error, ttftMs, error: o.error, cancelled: o.cancelled })),
  )
  headers['content-type'] = 'text/event-stream; charset=utf-8'
  headers['cache-control'] = 'no-cache'
  return new Response(responseBody(answer.native ? answer.body : ingress.stream(answer.body, request, context)), { status: 200, headers })
}

/**
 * An error as the client's API words it (OpenAI's shape off an ingress path). One from the attempts
 * is masked and accounted already; any other is a refusal: masked with the gateway's secrets (it
 * holds no upstream's words) and counted. Anything not a GatewayError is a 500 that says no more.
 */
export function fail(s: Services, err: unknown, requestId: string, req: Request, ingress?: Ingress): Response {
  const answer = (e: GatewayError) => (ingress ? ingress.error(e, { 'x-request-id': requestId }) : errorResponse(e, { 'x-request-id': requestId }))
  if (err instanceof GatewayError) {
    if (s.afterAttempts.has(err)) return answer(err)
    const config = s.deps.config()
    const clean = scrubError(err, s.scrubbers.gateway(config))
    accountRefusal(s, clean, s.refusedOn.get(err), requestId, req, config)
    return answer(clean)
  }
  s.log.error('unhandled error', { requestId, error: err instanceof Error ? err.message : String(err) })
  return answer(new GatewayError(500, 'The gateway hit an internal error; the request id is in x-request-id.', 'api_error', 'internal_error'))
}
