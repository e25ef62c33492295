// One inference request as the stages see it: what arrived, then what each
// stage found out (who asks, what for, which route and plan, what the limits
// admitted), in the order serve.ts fills it in.
import type { ExecutionContext } from '../app.ts'
import type { Ingress, IngressRequest } from '../api/ingress.ts'
import type { CompiledConfig, Principal, Route } from '../config/compile.ts'
import type { Admitted } from '../limits/admission.ts'
import type { Plan } from '../routing/plan.ts'
import type { RequestTrace } from '../telemetry/trace.ts'
import type { Scrubber } from '../telemetry/scrub.ts'
import { isoTime } from '../telemetry/iso-time.ts'
import type { RequestContext } from './context.ts'

export class Inference {
  config!: CompiledConfig
  principal!: Principal
  /** A key was presented and known (the principal is not the open gateway's anonymous one). */
  keyed = false
  /** What the ingress translator gets beside the request. */
  context!: RequestContext
  /** The request in the internal form, from the ingress. */
  request!: IngressRequest
  route!: Route
  /** Masks the secrets of the backends this route can reach in what upstreams say. */
  scrub!: Scrubber
  plan!: Plan
  /** What the limits and budgets admitted; undefined when none apply. */
  admitted: Admitted | undefined = undefined
  /** The answer's headers (route, rule, experiment, rate limits), on a failure's too. */
  headers!: Record<string, string>
  private time: string | undefined = undefined

  constructor(
    readonly ingress: Ingress,
    readonly req: Request,
    readonly path: string,
    readonly requestId: string,
    readonly started: number,
    readonly ctx: Partial<ExecutionContext> | undefined,
    readonly traced: RequestTrace | undefined,
  ) {}

  /** When the request arrived, as ISO text: the access line and the cost record share one, made once. */
  startedIso(): string {
    return (this.time ??= isoTime(this.started))
  }
}
