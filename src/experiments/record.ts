// Per-variant aggregates, kept in the StateStore so every replica adds to
// the same figures: counts, errors, latency and time-to-first-token
// (moments for means, log buckets for percentiles), tokens, cost, and the
// custom metrics applications send back through /v1/feedback. All sums, so
// replicas merge by adding. Written after the response, never before it.
import type { Experiment } from '../config/compile-experiment.ts'
import type { StateStore } from '../state/store.ts'
import { bucketOf } from './histogram.ts'
import type { AssignmentRing } from './assignments.ts'
import { FlushWindow } from '../state/flush-window.ts'
import { durationReached } from './window.ts'

/** Aggregates outlive a long experiment and its analysis. */
const AGGREGATE_TTL_S = 180 * 86_400
/** How long after a response its feedback is accepted. */
export const FEEDBACK_TTL_S = 7 * 86_400

export interface VariantOutcome {
  /** The variant's backend answered (a failover to another backend is an error for the variant). */
  ok: boolean
  /** Until the whole answer was out. */
  latencyMs: number
  /** Streams: until the first content. */
  ttftMs?: number
  inputTokens?: number
  outputTokens?: number
  cost?: number
}

export const experimentId = (exp: Pick<Experiment, 'namespace' | 'name'>) => `${exp.namespace}/${exp.name}`
export const variantKey = (expId: string, variant: string) => `exp:${expId}:v:${variant}`
const startKey = (expId: string) => `exp:${expId}:start`
const requestKey = (requestId: string) => `exp:req:${requestId}`

function addSample(d: Record<string, number>, name: string, v: number, buckets: boolean) {
  d[`${name}:n`] = 1
  d[`${name}:s`] = v
  d[`${name}:q`] = v * v
  if (buckets) d[`${name}:b:${bucketOf(v)}`] = 1
}

export class ExperimentRecorder {
  // When each experiment began, as far as this instance knows: a number once known (read from the
  // store, or from marking it), undefined when no one has marked it yet, a promise while it is read.
  readonly #starts = new Map<string, number | undefined | Promise<number | undefined>>()
  // Aggregates not yet in the store, per variant key: summed here and written
  // once per window (flushMs), before every read, and on flush(). A write per
  // request was a store call each (a round trip on Redis) for figures only
  // reports read; a crash loses at most one window of them.
  #pending = new Map<string, Record<string, number>>()
  readonly #window: FlushWindow
  /**
   * `ring`: keep request assignments there instead of the store (a gateway whose
   * state is in memory; the store's entries are for stores replicas share).
   */
  constructor(
    private readonly store: StateStore,
    private readonly now: () => number = Date.now,
    private readonly ring?: AssignmentRing,
    flushMs = 1000,
  ) {
    this.#window = new FlushWindow(flushMs, () => this.flush())
  }

  /** Writes the aggregates gathered so far. */
  flush(): Promise<void> {
    if (!this.#pending.size) return Promise.resolve()
    const pending = this.#pending
    this.#pending = new Map()
    return Promise.all([...pending].map(([key, d]) => this.store.addFields(key, d, AGGREGATE_TTL_S))).then(() => {})
  }

  async record(exp: Experiment, variant: string, requestId: string, o: VariantOutcome): Promise<void> {
    const id = experimentId(exp)
    const d: Record<string, number> = { n: 1, err: o.ok ? 0 : 1 }
    if (o.ok) {
      addSample(d, 'lat', o.latencyMs, true)
      if (o.ttftMs !== undefined) addSample(d, 'ttft', o.ttftMs, true)
      if (o.inputTokens !== undefined || o.outputTokens !== undefined) {
        addSample(d, 'in', o.inputTokens ?? 0, false)
        addSample(d, 'out', o.outputTokens ?? 0, false)
      }
      if (o.cost !== undefined) addSample(d, 'cost', o.cost, false)
    }
    const key = variantKey(id, variant)
    const sums = this.#pending.get(key)
    if (!sums) this.#pending.set(key, d)
    else for (const f in d) sums[f] = (sums[f] ?? 0) + d[f]!
    const writes: Promise<unknown>[] = []
    const window = this.#window.open()
    if (window) writes.push(window)
    if (this.ring) this.ring.add(requestId, id, variant, this.now() + FEEDBACK_TTL_S * 1000)
    else writes.push(this.store.put(requestKey(requestId), JSON.stringify([id, variant]), { ttlSeconds: FEEDBACK_TTL_S }))
    // The first request an instance sees marks the start, unless one is already there; the mark in force is the start.
    if (typeof this.#starts.get(id) !== 'number') {
      this.#starts.set(id, this.now())
      writes.push(this.store.put(startKey(id), String(this.now()), { ttlSeconds: AGGREGATE_TTL_S, ifAbsent: true }).then((v) => this.#starts.set(id, Number(v))))
    }
    await Promise.all(writes)
  }

  /**
   * The experiment has run its duration (see window.ts). At once when its start is known;
   * else the start is read from the store, once per instance.
   */
  readonly ended = (exp: Experiment, now: number): boolean | Promise<boolean> => {
    if (exp.durationMs === undefined) return false
    if (exp.startMs !== undefined) return durationReached(exp, exp.startMs, now)!
    const id = experimentId(exp)
    let start = this.#starts.get(id)
    if (start === undefined && !this.#starts.has(id)) {
      const read: Promise<number | undefined> = this.store.get(startKey(id)).then(
        (v) => {
          const s = v === undefined ? undefined : Number(v)
          if (this.#starts.get(id) === read) this.#starts.set(id, s)
          return s
        },
        () => {
          // The store is down: not ended, as far as anyone can tell; read again next time.
          if (this.#starts.get(id) === read) this.#starts.delete(id)
          return undefined
        },
      )
      this.#starts.set(id, (start = read))
    }
    return start instanceof Promise ? start.then((s) => durationReached(exp, s, now)!) : durationReached(exp, start, now)!
  }

  /** Adds one value of an application metric to the variant that served `requestId`. */
  async feedback(requestId: string, metric: string, value: number): Promise<'recorded' | 'unknown_request' | 'duplicate'> {
    const at = this.ring ? this.ring.get(requestId, this.now()) : await this.store.get(requestKey(requestId)).then((v) => (v ? (JSON.parse(v) as [string, string]) : undefined))
    if (!at) return 'unknown_request'
    const [id, variant] = at
    // One value per request and metric: a retried POST must not count twice.
    const mark = crypto.randomUUID()
    const held = await this.store.put(`exp:fb:${requestId}:${metric}`, mark, { ttlSeconds: FEEDBACK_TTL_S, ifAbsent: true })
    if (held !== mark) return 'duplicate'
    const d: Record<string, number> = {}
    addSample(d, `m:${metric}`, value, false)
    await this.store.addFields(variantKey(id, variant), d, AGGREGATE_TTL_S)
    return 'recorded'
  }

  async read(exp: Experiment): Promise<{ startMs?: number; variants: Map<string, Record<string, number>> }> {
    await this.flush()
    const id = experimentId(exp)
    const [start, ...fields] = await Promise.all([this.store.get(startKey(id)), ...exp.variants.map((v) => this.store.readFields(variantKey(id, v.name)))])
    return { startMs: start ? Number(start) : undefined, variants: new Map(exp.variants.map((v, i) => [v.name, fields[i]!])) }
  }
}
