// Spend aggregates: one StateStore hash per UTC day, a field per
// (dimension, value, currency, measure), so every replica adds to the same
// figures in one write per request and /v1/spend reads a day per hash.
import type { StateStore } from '../state/store.ts'
import type { CostRecord } from './record.ts'
import { formatNano } from './cost.ts'
import { isoDay as dayOf } from '../telemetry/iso-time.ts'

const KEEP_DAYS = 400
const MEASURES = ['cost', 'requests', 'input_tokens', 'output_tokens', 'estimated'] as const

export { dayOf }
const key = (day: string) => `spend:${day}`

// The field names of a (dimension, value, currency), one per measure. Values repeat
// (a few routes, backends, models and teams), so they are made once and kept.
const FIELDS_MAX = 10_000
const fieldNames = new Map<string, string[]>()

function fieldsOf(dim: string, value: string, cur: string): string[] {
  const id = `${dim}\n${cur}\n${value}`
  let f = fieldNames.get(id)
  if (!f) {
    const p = `${dim}|${encodeURIComponent(value)}|${cur}|`
    f = MEASURES.map((m) => p + m)
    if (fieldNames.size >= FIELDS_MAX) fieldNames.clear()
    fieldNames.set(id, f)
  }
  return f
}

export function recordSpend(store: StateStore, r: CostRecord, now: number): Promise<void> {
  const measures = [r.costNano, 1, r.inputTokens, r.outputTokens, r.estimated ? 1 : 0]
  const d: Record<string, number> = {}
  const cur = r.currency ?? '-'
  const add = (dim: string, v: string) => fieldsOf(dim, v, cur).forEach((f, i) => (d[f] = measures[i]!))
  // The record's own backend, model and route win over attribution dimensions of those names.
  for (const dim in r.attribution) if (dim !== 'backend' && dim !== 'model' && dim !== 'route') add(dim, r.attribution[dim]!)
  add('backend', r.backend)
  add('model', r.model)
  add('route', r.route)
  return store.addFields(key(dayOf(now)), d, KEEP_DAYS * 86_400)
}

export interface SpendRow {
  [dimension: string]: string | number | null
}

export async function readSpend(store: StateStore, groupBy: string, from: string, to: string): Promise<SpendRow[]> {
  const days: string[] = []
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000) days.push(dayOf(t))
  const hashes = await Promise.all(days.map((d) => store.readFields(key(d))))
  const rows = new Map<string, Record<string, number>>()
  for (const h of hashes) {
    for (const f in h) {
      const [dim, value, cur, measure] = f.split('|')
      if (dim !== groupBy) continue
      const id = `${value}|${cur}`
      const row = rows.get(id) ?? rows.set(id, {}).get(id)!
      row[measure!] = (row[measure!] ?? 0) + h[f]!
    }
  }
  return [...rows]
    .map(([id, m]) => {
      const [value, cur] = id.split('|')
      return {
        [groupBy]: decodeURIComponent(value!),
        currency: cur === '-' ? null : cur!,
        cost: formatNano(Math.round(m.cost ?? 0)),
        requests: m.requests ?? 0,
        input_tokens: m.input_tokens ?? 0,
        output_tokens: m.output_tokens ?? 0,
        estimated_requests: m.estimated ?? 0,
      }
    })
    .sort((a, b) => Number(b.cost) - Number(a.cost))
}
