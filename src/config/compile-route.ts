// An InferenceRoute compiled for the hot path: each rule's match becomes
// one predicate (regexes and globs built once), the failover chain is
// resolved (explicit, else the route's backends by priority), and the
// failover triggers become one predicate over classified upstream errors.
import type { RouteSpec } from './schema.ts'
import { durationMs } from './duration.ts'
import { FAILOVER_CLASSES, type FailureClass, type UpstreamError } from '../providers/errors.ts'
import { globMatch } from '../routing/glob.ts'

export type Strategy = 'weighted' | 'cost' | 'latency' | 'least-busy'

export interface WeightedRef {
  name: string
  weight: number
}

/** What a rule can look at without reading the prompt. */
export interface MatchInput {
  model: string
  path: string
  headers: Headers
  principal: { name: string; team?: string; tier?: string }
}

export interface Rule {
  name: string
  test: (input: MatchInput) => boolean
  /** Prompt size bounds; checked only when `test` passes, so prompts are counted only when needed. */
  promptTokens?: { min?: number; max?: number }
  backends: WeightedRef[]
  strategy: Strategy
  /** The rule's model condition alone, when it has one: which models the route serves. */
  serves?: (model: string) => boolean
}

export interface FailoverPolicy {
  enabled: boolean
  /** Extra attempts on one backend. */
  maxRetries: number
  /** Does this failure move the request on (retry or next backend)? */
  triggers: (e: UpstreamError) => boolean
  /** Per-attempt timeout; the backend's own when absent. */
  attemptTimeoutMs?: number
  initialBackoffMs: number
  maxBackoffMs: number
  maxRetryAfterMs: number
  deadlineMs: number
}

type Match = NonNullable<RouteSpec['rules'][number]['match']>
type HeaderMatch = NonNullable<Match['headers']>[string]

function headerTest(name: string, m: HeaderMatch): (h: Headers) => boolean {
  if (typeof m === 'string') return (h) => h.get(name) === m
  if (m.exact !== undefined) return (h) => h.get(name) === m.exact
  if (m.prefix !== undefined) return (h) => h.get(name)?.startsWith(m.prefix!) === true
  if (m.regex !== undefined) {
    const re = new RegExp(m.regex)
    return (h) => {
      const v = h.get(name)
      return v !== null && re.test(v)
    }
  }
  return m.present ? (h) => h.has(name) : (h) => !h.has(name)
}

export function modelTest(match: Match | undefined): ((model: string) => boolean) | undefined {
  if (!match || (match.model === undefined && match.modelPrefix === undefined && match.modelPattern === undefined)) return undefined
  const { model, modelPrefix, modelPattern } = match
  return (m) => (model === undefined || m === model) && (modelPrefix === undefined || m.startsWith(modelPrefix)) && (modelPattern === undefined || globMatch(modelPattern, m))
}

export function compileMatch(match: Match | undefined): (input: MatchInput) => boolean {
  if (!match) return () => true
  const tests: Array<(i: MatchInput) => boolean> = []
  if (match.pathPrefix !== undefined) tests.push((i) => i.path.startsWith(match.pathPrefix!))
  const serves = modelTest(match)
  if (serves) tests.push((i) => serves(i.model))
  for (const [name, m] of Object.entries(match.headers ?? {})) {
    const t = headerTest(name.toLowerCase(), m)
    tests.push((i) => t(i.headers))
  }
  const p = match.principal
  if (p?.name) tests.push((i) => p.name!.includes(i.principal.name))
  if (p?.team) tests.push((i) => i.principal.team !== undefined && p.team!.includes(i.principal.team))
  if (p?.tier) tests.push((i) => i.principal.tier !== undefined && p.tier!.includes(i.principal.tier))
  return (i) => tests.every((t) => t(i))
}

// The seed article's trigger names, as failure classes.
const ERROR_CLASS: Record<string, FailureClass> = {
  connection: 'connection',
  timeout: 'timeout',
  context_length_exceeded: 'context_window',
  rate_limit: 'rate_limit',
  server: 'server',
}

export function compileFailover(spec: RouteSpec): FailoverPolicy {
  const f = spec.failover
  let triggers = (e: UpstreamError) => FAILOVER_CLASSES.has(e.cls)
  let attemptTimeoutMs = spec.fallback ? spec.fallback.timeoutSeconds * 1000 : undefined
  if (f?.triggers) {
    const statuses = new Set<number>()
    const classes = new Set<FailureClass>(['unavailable']) // never tried: always move on
    for (const t of f.triggers) {
      if ('status' in t) statuses.add(t.status)
      else if ('error' in t) classes.add(ERROR_CLASS[t.error]!)
      else {
        classes.add('timeout')
        attemptTimeoutMs = durationMs(t.timeout)
      }
    }
    triggers = (e) => classes.has(e.cls) || (e.upstreamStatus !== undefined && statuses.has(e.upstreamStatus))
  }
  return {
    enabled: f?.enabled ?? true,
    maxRetries: f?.maxRetries ?? 0,
    triggers,
    attemptTimeoutMs,
    initialBackoffMs: f?.initialBackoffMs ?? 200,
    maxBackoffMs: f?.maxBackoffMs ?? 5000,
    maxRetryAfterMs: (f?.maxRetryAfterSeconds ?? 10) * 1000,
    deadlineMs: (f?.deadlineSeconds ?? 120) * 1000,
  }
}

/**
 * The route's inline backends as rules after its own: one per priority level, lowest
 * first, each splitting by weight. A level none of whose backends fits the request's
 * headers (matchHeaders) is passed over; the levels below are the failover chain.
 */
function inlineRules(spec: RouteSpec): Rule[] {
  const levels = new Map<number, WeightedRef[]>()
  for (const b of spec.backends ?? []) {
    if (!levels.has(b.priority)) levels.set(b.priority, [])
    levels.get(b.priority)!.push({ name: b.name, weight: b.weight })
  }
  return [...levels]
    .sort(([a], [b]) => a - b)
    .map(([p, backends]) => ({ name: `priority-${p}`, test: () => true, backends, strategy: 'weighted' as const }))
}

export function compileRules(spec: RouteSpec): Rule[] {
  return [...ownRules(spec), ...inlineRules(spec)]
}

function ownRules(spec: RouteSpec): Rule[] {
  return spec.rules.map((r, i) => ({
    name: r.name ?? String(i),
    test: compileMatch(r.match),
    promptTokens: r.match?.promptTokens,
    backends: r.backends.map(({ name, weight }) => ({ name, weight })),
    strategy: r.strategy,
    serves: modelTest(r.match),
  }))
}
