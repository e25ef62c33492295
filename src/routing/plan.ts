// The plan: the ordered backends one request may try. The rule that matches
// picks the first (by weight), the route's fallback chain follows. Weight 0
// drains a backend: it is never picked, though it may still be a fallback.
import type { Backend, CompiledConfig, Route, WeightedRef } from '../config/compile.ts'
import { globMatch } from './glob.ts'

export interface PlanInput {
  model: string
  path: string
  headers: Headers
  random?: () => number
}

function ruleMatches(match: Route['rules'][number]['match'], input: PlanInput): boolean {
  if (!match) return true
  if (match.pathPrefix && !input.path.startsWith(match.pathPrefix)) return false
  if (match.modelPattern && !globMatch(match.modelPattern, input.model)) return false
  if (match.headers) {
    for (const [k, v] of Object.entries(match.headers)) if (input.headers.get(k) !== v) return false
  }
  return true
}

function headersFit(backend: Backend, headers: Headers): boolean {
  const need = backend.spec.matchHeaders
  if (!need) return true
  for (const [k, v] of Object.entries(need)) if (headers.get(k) !== v) return false
  return true
}

export function pickWeighted<T extends WeightedRef>(refs: readonly T[], random: () => number = Math.random): T | undefined {
  let total = 0
  for (const r of refs) total += r.weight
  if (total <= 0) return undefined
  let x = random() * total
  for (const r of refs) {
    if (r.weight <= 0) continue
    x -= r.weight
    if (x < 0) return r
  }
  return refs.findLast((r) => r.weight > 0)
}

export function planBackends(config: CompiledConfig, route: Route, input: PlanInput): Backend[] {
  const lookup = (name: string) => config.backends.get(`${route.namespace}/${name}`)
  const fits = (ref: WeightedRef) => {
    const b = lookup(ref.name)
    return b !== undefined && headersFit(b, input.headers)
  }
  let first: WeightedRef | undefined
  for (const rule of route.rules) {
    if (!ruleMatches(rule.match, input)) continue
    first = pickWeighted(rule.backends.filter(fits), input.random)
    if (first) break
  }
  if (!first && route.defaultBackend && route.defaultBackend.weight > 0 && fits(route.defaultBackend)) first = route.defaultBackend
  const out: Backend[] = []
  const seen = new Set<string>()
  for (const name of [first?.name, ...route.fallback]) {
    if (!name || seen.has(name)) continue
    seen.add(name)
    const b = lookup(name)
    if (b && headersFit(b, input.headers)) out.push(b)
  }
  return out
}
