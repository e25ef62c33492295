// The plan: the ordered backends one request may try. An experiment the
// subject is enrolled in picks the first (see Experiment.passthrough); else the first rule that matches
// picks it (by weight or strategy); else the default backend. The fallback
// chain follows. Backends whose breaker is open or that are known unhealthy
// go to the reserve: tried only once every other candidate has failed, so
// a breaker keeps traffic off a backend while there is an alternative, and
// never turns a request away that the backend might still serve.
import type { Backend, Route, WeightedRef } from '../config/compile.ts'
import type { MatchInput } from '../config/compile-route.ts'
import type { Experiment, Variant } from '../config/compile-experiment.ts'
import type { Fleet } from '../resilience/fleet.ts'
import { assignVariant, enrolled } from '../experiments/assign.ts'
import { estimatePromptTokens, promptTokensWithin, type Estimate } from '../usage/tokens.ts'
import { select, type Candidate } from './select.ts'

export interface PlanInput extends MatchInput {
  body: Record<string, unknown>
  /** The API key's principal when a key was presented; experiments fall back to it as the subject. */
  keyName?: string
  requestId: string
  now: number
  random: () => number
  /** The experiment has run its duration (a promise when its start must be read first); none ends when absent. */
  experimentEnded?: (exp: Experiment, now: number) => boolean | Promise<boolean>
}

export interface Plan {
  backends: Backend[]
  /** Candidates left out by their breaker or health check: the last resort. */
  reserve: Backend[]
  rule?: string
  experiment?: { exp: Experiment; variant: Variant }
  /** Set when something needed the prompt's size. */
  promptTokens?: Estimate
}

function headersFit(backend: Backend, headers: Headers): boolean {
  const need = backend.spec.matchHeaders
  if (!need) return true
  for (const k in need) if (headers.get(k) !== need[k]) return false
  return true
}

/** The experiment subject: the experiment's header, else the API key; else per request (not sticky). */
function subjectOf(exp: Experiment, input: PlanInput): string {
  const h = input.headers.get(exp.subjectHeader)
  if (h) return `h:${h}`
  return input.keyName ? `k:${input.keyName}` : `r:${input.requestId}`
}

/**
 * The plan, at once unless a rule that matches the request bounds the prompt's
 * tokens: those bounds may need the prompt counted, which may wait for the tokenizer.
 */
export function planRequest(route: Route, input: PlanInput, fleet: Fleet): Plan | Promise<Plan> {
  const ended = endedOf(route, input)
  if (!route.countsPrompt && !(ended instanceof Promise)) return planWith(route, input, fleet, undefined, ended)
  const checks = route.countsPrompt ? route.rules.map((r) => (r.promptTokens && r.test(input) ? promptTokensWithin(input.body, input.model, r.promptTokens.min, r.promptTokens.max) : true)) : undefined
  return Promise.all([checks && Promise.all(checks), ended]).then(([within, over]) => planWith(route, input, fleet, within, over))
}

const NONE_ENDED: readonly boolean[] = []

/** Which of the route's experiments have run their duration: at once unless a start must be read. */
function endedOf(route: Route, input: PlanInput): readonly boolean[] | Promise<readonly boolean[]> {
  if (!input.experimentEnded || !route.experiments.length) return NONE_ENDED
  const ended = route.experiments.map((e) => input.experimentEnded!(e, input.now))
  return ended.some((e) => e instanceof Promise) ? Promise.all(ended) : (ended as boolean[])
}

/** `within[i]`: rule i's prompt-token bounds hold (absent: no rule has any). `ended[i]`: experiment i is over. */
function planWith(route: Route, input: PlanInput, fleet: Fleet, within: boolean[] | undefined, ended: readonly boolean[]): Plan {
  const backends = route.backends
  let estimate: Estimate | undefined
  const tokens = () => (estimate ??= estimatePromptTokens(input.body))

  const plan: Plan = { backends: [], reserve: [] }
  let first: Backend | undefined

  // Subjects of a passthrough variant are routed as usual and counted for it if usual routing lands on its backend.
  let passthrough: Plan['experiment']
  for (let i = 0; i < route.experiments.length; i++) {
    const exp = route.experiments[i]!
    if ((exp.startMs !== undefined && input.now < exp.startMs) || ended[i]) continue
    const subject = subjectOf(exp, input)
    if (!enrolled(exp, subject)) continue
    const variant = assignVariant(exp, subject)
    const b = variant && backends.get(variant.backend)
    if (!variant || !b || !headersFit(b, input.headers)) continue
    if (variant.name === exp.passthrough) {
      passthrough ??= { exp, variant }
      continue
    }
    plan.experiment = { exp, variant }
    first = b
    break
  }

  if (!first) {
    for (let i = 0; i < route.rules.length; i++) {
      const rule = route.rules[i]!
      if (!rule.test(input) || (within && !within[i])) continue
      const cs = candidates(backends, rule.backends, input.headers)
      const ctx = { fleet, random: input.random, promptTokens: () => tokens().tokens, maxOutputTokens: maxOutput(input.body) }
      first = (select(rule.strategy, cs.filter((c) => fleet.usable(c.backend)), ctx) ?? select(rule.strategy, cs, ctx))?.backend
      if (first) {
        plan.rule = rule.name
        break
      }
    }
  }
  if (!first && route.defaultBackend && route.defaultBackend.weight > 0) {
    const b = backends.get(route.defaultBackend.name)
    if (b && headersFit(b, input.headers)) first = b
  }

  if (!plan.experiment && passthrough && first?.name === passthrough.variant.backend) plan.experiment = passthrough

  const all: Backend[] = first ? [first] : []
  for (const name of route.fallback) {
    const b = backends.get(name)
    if (b && !all.some((x) => x.name === b.name) && headersFit(b, input.headers)) all.push(b)
  }
  // A backend whose window is surely smaller than the prompt is not worth a round trip.
  let fit = all
  if (all.some((b) => b.contextWindow)) {
    const low = tokens().low
    const f = all.filter((b) => !b.contextWindow || b.contextWindow >= low)
    if (f.length) fit = f
    plan.promptTokens = estimate
  }
  for (const b of fit) (fleet.usable(b) ? plan.backends : plan.reserve).push(b)
  return plan
}

function candidates(backends: Map<string, Backend>, refs: readonly WeightedRef[], headers: Headers): Candidate[] {
  const out: Candidate[] = []
  for (const r of refs) {
    const b = backends.get(r.name)
    if (b && headersFit(b, headers)) out.push({ name: r.name, weight: r.weight, backend: b })
  }
  return out
}

function maxOutput(body: Record<string, unknown>): number | undefined {
  const m = body.max_completion_tokens ?? body.max_tokens
  return typeof m === 'number' ? m : undefined
}
