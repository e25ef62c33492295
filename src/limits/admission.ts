// Admission: every rate limit and budget that applies to a request,
// decided in one StateStore round trip before it is sent (none when
// nothing applies), and settled to what it really used afterwards.
//
// Scopes: the route (or each of its users, `perUser`), the API key, the
// key's team, and every user (`limits.perUser`). A request that names its
// route (X-Route) also counts against the route its model has without the
// header: naming a looser route never escapes a limit. Token limits reserve the
// prompt's tiktoken count (or its estimate, `limits.promptTokens`) plus
// max_tokens (or `defaultMaxTokens`); budgets
// reserve the worst-case cost over the backends the request may reach.
import { GatewayError } from '../api/errors.ts'
import type { Backend, CompiledConfig, Principal, Route } from '../config/compile.ts'
import { LIMIT_UNITS, type Budget, type LimitSet } from '../config/schema.ts'
import { hash53 } from '../experiments/assign.ts'
import type { Logger } from '../telemetry/log.ts'
import type { AdmissionResult, BudgetCheck, RateCheck, RateState, Settlement, StateStore } from '../state/store.ts'
import { estimatePromptTokens, reservePromptTokens } from '../usage/tokens.ts'
import { formatNano, maxCostNano, parseNano } from '../usage/cost.ts'
import { formatReset, rateLimitHeaders } from './headers.ts'
import { recordBudget, recordRateLimited, recordStoreFailure } from '../telemetry/metrics.ts'
import { periodId, periodTtlSeconds } from './periods.ts'
import { spentKey, type BudgetSpend } from './alerts.ts'

type Unit = (typeof LIMIT_UNITS)[number]

const PERIOD_MS: Record<Unit, number> = {
  requestsPerSecond: 1000,
  requestsPerMinute: 60_000,
  requestsPerHour: 3_600_000,
  requestsPerDay: 86_400_000,
  tokensPerMinute: 60_000,
  tokensPerDay: 86_400_000,
}

const UNIT_TEXT: Record<Unit, string> = {
  requestsPerSecond: 'requests per second',
  requestsPerMinute: 'requests per minute',
  requestsPerHour: 'requests per hour',
  requestsPerDay: 'requests per day',
  tokensPerMinute: 'tokens per minute',
  tokensPerDay: 'tokens per day',
}

const isTokens = (u: Unit) => u.startsWith('tokens')

// A limit set's units, and whether any counts tokens: worked out once per set
// (sets belong to the compiled config and live as long as it does).
const setUnits = new WeakMap<LimitSet, { units: Unit[]; tokens: boolean }>()
function unitsOf(set: LimitSet) {
  let u = setUnits.get(set)
  if (!u) {
    const units = LIMIT_UNITS.filter((unit) => set[unit] !== undefined)
    setUnits.set(set, (u = { units, tokens: units.some(isTokens) }))
  }
  return u
}

// Store keys of a scope's units: scopes repeat (a route, a key, a team, its users).
const KEYS_MAX = 10_000
const scopeKeys = new Map<string, Partial<Record<Unit, string>>>()
function rateKey(scope: string, unit: Unit): string {
  let k = scopeKeys.get(scope)
  if (!k) {
    if (scopeKeys.size >= KEYS_MAX) scopeKeys.clear()
    scopeKeys.set(scope, (k = {}))
  }
  return (k[unit] ??= `rl:${scope}:${unit}`)
}

export interface AdmissionInput {
  config: CompiledConfig
  route: Route
  /** The route the model resolves to when X-Route named another: its limits hold too. */
  modelRoute?: Route
  principal: Principal
  /** True when the caller presented a key (the principal is not the open gateway's anonymous one). */
  keyed: boolean
  headers: Headers
  body: Record<string, unknown>
  model: string
  /** Backends the request may reach: budgets reserve the worst case over them. */
  candidates: Backend[]
  /** Names the budget period. */
  now: number
}

interface PlannedRate {
  check: RateCheck
  unit: Unit
  label: string
  failMode: 'open' | 'closed'
}

interface PlannedBudget {
  check: BudgetCheck
  budget: Budget
  label: string
}

interface Plan {
  rates: PlannedRate[]
  budgets: PlannedBudget[]
  reservedTokens: number
}

/** The plan of a request no limit or budget applies to (most): one shared, frozen object. */
const NOTHING: Plan = Object.freeze({ rates: Object.freeze([]) as unknown as PlannedRate[], budgets: Object.freeze([]) as unknown as PlannedBudget[], reservedTokens: 0 })

export interface Admitted {
  /** x-ratelimit-* for the response. */
  headers: Record<string, string>
  reservedTokens: number
  budgets: PlannedBudget[]
  /** What to give back or take once the request is over. Unknown usage keeps the reservation. */
  settlement(actual: { ok: boolean; tokens?: number; costNano?: number }): Settlement
}

/** Store keys stay short and safe whatever a header holds. */
const idPart = (s: string) => (s.length <= 64 && /^[\w.@-]+$/.test(s) ? s : `h${hash53(s).toString(36)}`)

function userOf(input: AdmissionInput, header: string): string {
  const v = input.headers.get(header)
  return v ? `u:${idPart(v)}` : `k:${idPart(input.principal.name)}`
}

function routeLimits(input: AdmissionInput, route: Route, sets: Array<{ scope: string; label: string; set: LimitSet }>) {
  const rl = route.spec.rateLimit
  if (!rl) return
  const scope = route.limitScope
  if (rl.perUser) {
    const user = userOf(input, rl.userHeader.toLowerCase())
    sets.push({ scope: `${scope}:${user}`, label: `user '${user.slice(2)}' on route '${route.name}'`, set: rl })
  } else sets.push({ scope, label: `route '${route.name}'`, set: rl })
}

export class Limiter {
  #down = false

  constructor(
    private readonly store: StateStore,
    private readonly log: Logger,
  ) {}

  /** Synchronous unless the prompt must be counted and the tokenizer is not built yet; `promptTokens` is that count. */
  plan(input: AdmissionInput, promptTokens?: number): Plan | Promise<Plan> {
    const { config, route, principal } = input
    const settings = config.gateway.limits
    const sets: Array<{ scope: string; label: string; set: LimitSet }> = []
    routeLimits(input, route, sets)
    if (input.modelRoute && input.modelRoute !== route) routeLimits(input, input.modelRoute, sets)
    if (input.keyed && principal.limits) sets.push({ scope: `key:${idPart(principal.name)}`, label: `API key '${principal.name}'`, set: principal.limits })
    const team = principal.team && config.gateway.teams.find((t) => t.name === principal.team)
    if (team && team.limits) sets.push({ scope: `team:${idPart(team.name)}`, label: `team '${team.name}'`, set: team.limits })
    if (settings.perUser) {
      const user = userOf(input, settings.userHeader.toLowerCase())
      sets.push({ scope: `user:${user}`, label: `user '${user.slice(2)}'`, set: settings.perUser })
    }

    if (!sets.length && !config.gateway.budgets.length) return NOTHING
    let reservedTokens = 0
    const needsTokens = sets.some((s) => unitsOf(s.set).tokens)
    const budgets = config.gateway.budgets.filter((b) =>
      b.scope === 'team' ? b.name === principal.team : b.scope === 'key' ? input.keyed && b.name === principal.name : true,
    )
    let prompt = 0
    let output = 0
    if (needsTokens || budgets.length) {
      const body = input.body
      if (promptTokens === undefined) {
        // Counted for the model the first backend is sent, which names the encoding.
        const model = input.candidates[0]?.model ?? input.model
        if (settings.promptTokens === 'estimate') promptTokens = estimatePromptTokens(body, model).tokens
        else {
          const n = reservePromptTokens(body, model)
          if (typeof n !== 'number') return n.then((t) => this.plan(input, t))
          promptTokens = n
        }
      }
      prompt = promptTokens
      const max = body.max_completion_tokens ?? body.max_tokens
      const n = typeof body.n === 'number' && body.n > 1 ? body.n : 1
      output = (typeof max === 'number' ? max : settings.defaultMaxTokens) * n
      reservedTokens = prompt + output
    }

    const rates: PlannedRate[] = []
    for (const { scope, label, set } of sets) {
      for (const unit of unitsOf(set).units) {
        const limit = set[unit]!
        rates.push({
          check: { key: rateKey(scope, unit), limit, periodMs: PERIOD_MS[unit], cost: isTokens(unit) ? reservedTokens : 1 },
          unit,
          label,
          failMode: set.failMode ?? settings.failMode,
        })
      }
    }

    const now = input.now
    // BigInt arithmetic: only when a budget needs it.
    const worst = budgets.length ? Math.max(0, ...input.candidates.map((b) => maxCostNano(b, prompt, output))) : 0
    const planned: PlannedBudget[] = budgets.map((b) => {
      const who = b.scope === 'user' ? userOf(input, settings.userHeader.toLowerCase()) : idPart(b.name!)
      return {
        budget: b,
        label: b.scope === 'user' ? `user '${who.slice(2)}'` : `${b.scope === 'key' ? 'API key' : 'team'} '${b.name}'`,
        check: { key: `bg:${b.scope}:${who}:${periodId(b.period, now)}`, amount: worst, limit: parseNano(b.amount), ttlSeconds: periodTtlSeconds(b.period) },
      }
    })
    return { rates, budgets: planned, reservedTokens }
  }

  /**
   * Throws the refusal (429, 402, or 503 when a fail-closed limit cannot be checked).
   * Undefined, at once, when nothing applies (most routes: no promise to wait for).
   */
  admit(input: AdmissionInput): Promise<Admitted | undefined> | undefined {
    const planned = this.plan(input)
    if (!(planned instanceof Promise) && !planned.rates.length && !planned.budgets.length) return undefined
    return this.#admit(planned)
  }

  async #admit(planned: Plan | Promise<Plan>): Promise<Admitted | undefined> {
    const { rates, budgets, reservedTokens } = planned instanceof Promise ? await planned : planned
    if (!rates.length && !budgets.length) return undefined
    let result: AdmissionResult
    try {
      result = await this.store.admit({ rates: rates.map((r) => r.check), budgets: budgets.map((b) => b.check) })
      if (this.#down) {
        this.#down = false
        this.log.warn('kortex: the state store is reachable again; limits and budgets are enforced')
      }
    } catch (err) {
      if (!this.#down) {
        this.#down = true
        this.log.error('kortex: the state store is unreachable; limits fail open or closed as configured', { error: err instanceof Error ? err.message : String(err) })
      }
      const closed = rates.some((r) => r.failMode === 'closed')
      recordStoreFailure(closed ? 'closed' : 'open')
      if (closed) {
        throw new GatewayError(503, 'Rate limits cannot be checked right now and this route fails closed; try again shortly.', 'api_error', 'limits_unavailable')
      }
      return { headers: {}, reservedTokens: 0, budgets: [], settlement: () => ({ rates: [], counters: [] }) }
    }

    const requestStates: RateState[] = []
    const tokenStates: RateState[] = []
    result.rates.forEach((r, i) => (isTokens(rates[i]!.unit) ? tokenStates : requestStates).push(r))
    const headers = rateLimitHeaders(requestStates, tokenStates)
    // Team and key budgets by name (per-user ones would name users: not reported).
    result.budgets.forEach((s, i) => {
      const b = budgets[i]!.budget
      if (b.scope !== 'user' && b.name) recordBudget(`${b.scope}:${b.name}`, b.currency, s.total, budgets[i]!.check.limit)
    })
    if (!result.allowed) {
      const i = result.rates.findIndex((r) => !r.allowed)
      if (i >= 0) throw refusal(rates[i]!, result.rates[i]!, headers)
      const j = result.budgets.findIndex((b) => !b.allowed)
      const b = budgets[j]!
      throw new BudgetExceeded(
        `Budget exceeded for ${b.label}: ${b.budget.amount} ${b.budget.currency} per ${b.budget.period}, ${formatNano(result.budgets[j]!.total)} spent; this request could cost up to ${formatNano(b.check.amount)}.`,
        headers,
        spendOf(b),
      )
    }
    return {
      headers,
      reservedTokens,
      budgets,
      settlement: ({ ok, tokens, costNano }) => ({
        rates: rates
          .filter((r) => isTokens(r.unit))
          .map((r) => ({ key: r.check.key, limit: r.check.limit, periodMs: r.check.periodMs, delta: tokens !== undefined ? tokens - reservedTokens : ok ? 0 : -reservedTokens }))
          .filter((r) => r.delta !== 0),
        // The reservation becomes the cost, and the cost is added to settled spend (what alerts read).
        counters: budgets
          .flatMap((b) => {
            const cost = costNano ?? (ok ? b.check.amount : 0)
            return [
              { key: b.check.key, ttlSeconds: b.check.ttlSeconds, delta: cost - b.check.amount },
              { key: spentKey(b.check.key), ttlSeconds: b.check.ttlSeconds, delta: cost },
            ]
          })
          .filter((c) => c.delta !== 0),
      }),
    }
  }
}

/** A 402 for a budget: names the budget, whose owner is alerted. */
export class BudgetExceeded extends GatewayError {
  constructor(message: string, headers: Record<string, string>, readonly budget: BudgetSpend) {
    super(402, message, 'insufficient_quota', 'budget_exceeded', null, headers)
  }
}

/** What alerts need to know of a planned budget. */
export const spendOf = (b: PlannedBudget): BudgetSpend => ({ budget: b.budget, key: b.check.key, label: b.label, ttlSeconds: b.check.ttlSeconds })

function refusal(r: PlannedRate, s: RateState, headers: Record<string, string>): GatewayError {
  // The scope's kind from its key (rl:<kind>:...), never who: route, key, team or user.
  recordRateLimited(r.check.key.slice(3, r.check.key.indexOf(':', 3)))
  const unit = UNIT_TEXT[r.unit]
  if (s.retryAfterMs === Infinity) {
    return new GatewayError(429, `Request too large for ${r.label} on ${unit}: Limit ${r.check.limit}, Requested ${r.check.cost}. Send fewer tokens or a lower max_tokens.`, 'rate_limit_error', 'rate_limit_exceeded', null, headers)
  }
  const retry = Math.max(1, Math.ceil(s.retryAfterMs / 1000))
  return new GatewayError(
    429,
    `Rate limit reached for ${r.label} on ${unit}: Limit ${r.check.limit}, Requested ${r.check.cost}. Please try again in ${formatReset(s.retryAfterMs)}.`,
    'rate_limit_error',
    'rate_limit_exceeded',
    null,
    { ...headers, 'retry-after': String(retry) },
  )
}
