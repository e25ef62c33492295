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
// (a few routes, backends, models and teams), so they are made once and kept, found
// through maps keyed by the strings as they come (no key string built per lookup).
const FIELDS_MAX = 10_000
let fieldNames = new Map<string, Map<string, Map<string, string[]>>>()
let fieldCount = 0

function fieldsOf(dim: string, value: string, cur: string): string[] {
  let byCur = fieldNames.get(dim)
  if (!byCur) fieldNames.set(dim, (byCur = new Map()))
  let byValue = byCur.get(cur)
  if (!byValue) byCur.set(cur, (byValue = new Map()))
  let f = byValue.get(value)
  if (!f) {
    const p = `${dim}|${encodeURIComponent(value)}|${cur}|`
    f = MEASURES.map((m) => p + m)
    if (++fieldCount > FIELDS_MAX) {
      fieldNames = new Map()
      fieldCount = 0
    }
    byValue.set(value, f)
  }
  return f
}

let lastDay = ''
let lastKey = ''
const dayKey = (now: number) => {
  const day = dayOf(now)
  if (day !== lastDay) lastKey = key((lastDay = day))
  return lastKey
}

// The measures' field names of a whole record (every dimension), kept as an
// object whose keys are already in place: each record copies it and sets the
// values. Adding fifteen computed keys to a fresh object walked V8's
// transition tree key by key (~1.2 µs a record); a copy takes its shape whole.
// Found by walking the dimensions' name lists (identity keys: no string built).
interface Template {
  names: string[]
  shape: Record<string, number>
  next: Map<string[], Template>
}
const TEMPLATES_MAX = 2_000
const template = (names: string[]): Template => ({ names, shape: Object.fromEntries(names.map((n) => [n, 0])), next: new Map() })
let root = template([])
let templateCount = 0

function child(t: Template, fields: string[]): Template {
  let c = t.next.get(fields)
  if (!c) {
    if (++templateCount > TEMPLATES_MAX) {
      root = template([])
      templateCount = 0
    }
    t.next.set(fields, (c = template([...t.names, ...fields])))
  }
  return c
}

function templateOf(r: CostRecord, cur: string): Template {
  let t = root
  // The record's own backend, model and route win over attribution dimensions of those names.
  for (const dim in r.attribution) if (dim !== 'backend' && dim !== 'model' && dim !== 'route') t = child(t, fieldsOf(dim, r.attribution[dim]!, cur))
  t = child(t, fieldsOf('backend', r.backend, cur))
  t = child(t, fieldsOf('model', r.model, cur))
  return child(t, fieldsOf('route', r.route, cur))
}

export function recordSpend(store: StateStore, r: CostRecord, now: number): Promise<void> {
  const { names, shape } = templateOf(r, r.currency ?? '-')
  const d = { ...shape }
  // Five names per dimension, in MEASURES' order: cost, requests, input_tokens, output_tokens, estimated.
  const estimated = r.estimated ? 1 : 0
  for (let i = 0; i < names.length; i += 5) {
    d[names[i]!] = r.costNano
    d[names[i + 1]!] = 1
    d[names[i + 2]!] = r.inputTokens
    d[names[i + 3]!] = r.outputTokens
    d[names[i + 4]!] = estimated
  }
  return store.addFields(dayKey(now), d, KEEP_DAYS * 86_400)
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
