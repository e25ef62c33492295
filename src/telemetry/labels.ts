// Attribution labels on metrics (team, feature, ...): from the configured set
// when GatewayConfig telemetry.labels lists one, else the first distinct
// values up to the cap (metrics.ts bounded). Outside the set: `other`.
import type { GatewaySpec } from '../config/schema.ts'
import { OTHER, bounded } from './metrics.ts'

/** Allowed label values per dimension; a dimension not in the map is capped instead. */
export type LabelSets = ReadonlyMap<string, ReadonlySet<string>>

const cache = new WeakMap<object, LabelSets>()
/** The sets a GatewayConfig's spec allows: its telemetry.labels, with the teams its keys and teams name added to `team`. */
export function labelSets(spec: GatewaySpec): LabelSets {
  let sets = cache.get(spec)
  if (sets) return sets
  const m = new Map<string, Set<string>>()
  for (const [dim, values] of Object.entries(spec.telemetry.labels ?? {})) m.set(dim, new Set(values))
  const teams = m.get('team')
  if (teams) {
    for (const k of spec.auth.keys) if (k.team) teams.add(k.team)
    for (const t of spec.teams) teams.add(t.name)
  }
  cache.set(spec, (sets = m))
  return sets
}

/** The label for `value` of attribution dimension `dim`: itself when allowed (or under the cap), else `other`. */
export function attributionLabel(dim: string, value: string, sets: LabelSets | undefined): string {
  const allowed = sets?.get(dim)
  if (allowed) return allowed.has(value) ? value : OTHER
  return bounded(dim, value)
}
