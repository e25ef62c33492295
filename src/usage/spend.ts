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

/**
 * This instance's spend not yet in the store: per day, five sums for each
 * (dimension, value, currency), kept under its field-name list from
 * fieldsOf (an identity key: no string built per record). Written in one
 * addFields per day at most `flushMs` after the first record of a window,
 * before every read (/v1/spend), and on close. A write per request was
 * ~2.4% of a proxied request's CPU in memory, and a store round trip each
 * on Redis. A crash loses at most the last window's aggregates; the cost
 * records themselves are already in the log.
 */
export class SpendBuffer {
  #days = new Map<string, Map<string[], Float64Array>>()
  readonly #window: FlushWindow

  constructor(
    private readonly store: StateStore,
    flushMs: number,
  ) {
    this.#window = new FlushWindow(flushMs, () => this.flush())
  }

  /** Adds a record. Returns the window's write when this record opened the window (hand it to waitUntil), else undefined. */
  add(r: CostRecord, now: number): Promise<void> | undefined {
    const cur = r.currency ?? '-'
    const day = dayKey(now)
    let sums = this.#days.get(day)
    if (!sums) this.#days.set(day, (sums = new Map()))
    // The record's own backend, model and route win over attribution dimensions of those names.
    for (const dim in r.attribution) if (dim !== 'backend' && dim !== 'model' && dim !== 'route') addTo(sums, fieldsOf(dim, r.attribution[dim]!, cur), r)
    addTo(sums, fieldsOf('backend', r.backend, cur), r)
    addTo(sums, fieldsOf('model', r.model, cur), r)
    addTo(sums, fieldsOf('route', r.route, cur), r)
    return this.#window.open()
  }

  /** Writes everything gathered so far. */
  flush(): Promise<void> {
    if (!this.#days.size) return DONE
    const days = this.#days
    this.#days = new Map()
    const writes: Promise<void>[] = []
    for (const [day, sums] of days) {
      // fieldsOf may have made a second list for the same names (after its reset): sums add up per name.
      const d: Record<string, number> = {}
      for (const [names, s] of sums) for (let m = 0; m < 5; m++) if (s[m]) d[names[m]!] = (d[names[m]!] ?? 0) + s[m]!
      writes.push(this.store.addFields(day, d, KEEP_DAYS * 86_400))
    }
    return Promise.all(writes).then(() => {})
  }
}
const DONE = Promise.resolve()

/** Adds a record's measures, in MEASURES' order (cost, requests, input_tokens, output_tokens, estimated), to one name list's sums. */
function addTo(sums: Map<string[], Float64Array>, names: string[], r: CostRecord) {
  let s = sums.get(names)
  if (!s) sums.set(names, (s = new Float64Array(5)))
  s[0]! += r.costNano
  s[1]! += 1
  s[2]! += r.inputTokens
  s[3]! += r.outputTokens
  if (r.estimated) s[4]! += 1
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
