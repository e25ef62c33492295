// Spend aggregates: one StateStore hash per UTC day, a field per
// (dimension, value, currency, measure), so every replica adds to the same
// figures (one write per window, see SpendBuffer) and /v1/spend reads a day
// per hash.
import type { StateStore } from '../state/store.ts'
import type { CostRecord } from './record.ts'
import { formatNano } from './cost.ts'
import { isoDay as dayOf } from '../telemetry/iso-time.ts'
import { FlushWindow } from '../state/flush-window.ts'

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

// The measures' field names of a whole record (every dimension): a record's
// shape, which the buffer below sums under. Found by walking the dimensions'
// name lists (identity keys: no string built per record).
interface Template {
  names: string[]
  next: Map<string[], Template>
}
const TEMPLATES_MAX = 2_000
const template = (names: string[]): Template => ({ names, next: new Map() })
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

/**
 * This instance's spend not yet in the store: five sums per day and record
 * shape, written in one addFields per day at most `flushMs` after the first
 * record of a window, before every read (/v1/spend), and on close. A write
 * per request was ~2.4% of a proxied request's CPU in memory, and a store
 * round trip each on Redis. A crash loses at most the last window's
 * aggregates; the cost records themselves are already in the log.
 */
export class SpendBuffer {
  #days = new Map<string, Map<Template, Float64Array>>()
  readonly #window: FlushWindow

  constructor(
    private readonly store: StateStore,
    flushMs: number,
  ) {
    this.#window = new FlushWindow(flushMs, () => this.flush())
  }

  /** Adds a record. Returns the window's write when this record opened the window (hand it to waitUntil), else undefined. */
  add(r: CostRecord, now: number): Promise<void> | undefined {
    const t = templateOf(r, r.currency ?? '-')
    const day = dayKey(now)
    let byShape = this.#days.get(day)
    if (!byShape) this.#days.set(day, (byShape = new Map()))
    let sums = byShape.get(t)
    if (!sums) byShape.set(t, (sums = new Float64Array(5)))
    // MEASURES' order: cost, requests, input_tokens, output_tokens, estimated.
    sums[0]! += r.costNano
    sums[1]! += 1
    sums[2]! += r.inputTokens
    sums[3]! += r.outputTokens
    if (r.estimated) sums[4]! += 1
    return this.#window.open()
  }

  /** Writes everything gathered so far. */
  flush(): Promise<void> {
    if (!this.#days.size) return DONE
    const days = this.#days
    this.#days = new Map()
    const writes: Promise<void>[] = []
    for (const [day, byShape] of days) {
      // Shapes share names (the same route under two teams): their sums add up per field.
      const d: Record<string, number> = {}
      for (const [t, sums] of byShape) {
        for (let i = 0; i < t.names.length; i += 5) {
          for (let m = 0; m < 5; m++) if (sums[m]) d[t.names[i + m]!] = (d[t.names[i + m]!] ?? 0) + sums[m]!
        }
      }
      writes.push(this.store.addFields(day, d, KEEP_DAYS * 86_400))
    }
    return Promise.all(writes).then(() => {})
  }
}
const DONE = Promise.resolve()

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
