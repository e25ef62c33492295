// GET /v1/experiments/{name}: per-variant figures from the pooled
// aggregates, each treatment against control (the first variant) with a
// confidence interval and p-value — Welch's t-test for means, the
// two-proportion z-test for the error rate — and whether the experiment
// has its sample size and has run its duration.
import type { Experiment } from '../config/compile-experiment.ts'
import { quantiles } from './histogram.ts'
import { summarize, twoProportionZTest, welchTTest, type Comparison, type MeanSummary } from './stats.ts'
import { durationReached as reached } from './window.ts'

type Fields = Record<string, number>

const QS = [0.5, 0.95, 0.99] as const

function moments(f: Fields, name: string): MeanSummary {
  return summarize({ n: f[`${name}:n`] ?? 0, sum: f[`${name}:s`] ?? 0, sumSq: f[`${name}:q`] ?? 0 })
}

function buckets(f: Fields, name: string): Array<[string, number]> {
  const prefix = `${name}:b:`
  const out: Array<[string, number]> = []
  for (const k in f) if (k.startsWith(prefix)) out.push([k.slice(prefix.length), f[k]!])
  return out
}

/** Six significant digits: a cost per request of 0.000026 stays itself, a latency of 1234.5678 ms becomes 1234.57. */
const round = (x: number, _d?: number) => (Number.isFinite(x) ? Number(x.toPrecision(6)) : null)

function describe(m: MeanSummary) {
  return m.n ? { n: m.n, mean: round(m.mean), sd: round(Math.sqrt(m.variance)) } : { n: 0, mean: null, sd: null }
}

function distribution(f: Fields, name: string) {
  const [p50, p95, p99] = quantiles(buckets(f, name), QS)
  return { ...describe(moments(f, name)), p50: round(p50 ?? NaN, 1), p95: round(p95 ?? NaN, 1), p99: round(p99 ?? NaN, 1) }
}

function comparison(c: Comparison | null) {
  if (!c) return null
  return {
    diff: round(c.diff, 6),
    relative: c.relative === null ? null : round(c.relative, 4),
    ci: [round(c.ci[0], 6), round(c.ci[1], 6)],
    pValue: round(c.pValue, 6),
    ...(c.df !== undefined ? { df: round(c.df, 2) } : {}),
    significant: c.significant,
  }
}

function customMetrics(f: Fields): string[] {
  const names = new Set<string>()
  for (const k in f) {
    const m = /^m:(.+):n$/.exec(k)
    if (m) names.add(m[1]!)
  }
  return [...names]
}

export function experimentReport(exp: Experiment, data: { startMs?: number; variants: Map<string, Fields> }, now: number) {
  const conf = exp.confidence
  const fieldsOf = (name: string) => data.variants.get(name) ?? {}
  const metricNames = [...new Set(exp.variants.flatMap((v) => customMetrics(fieldsOf(v.name))))]
  const variants = exp.variants.map((v) => {
    const f = fieldsOf(v.name)
    const n = f.n ?? 0
    const errors = f.err ?? 0
    return {
      name: v.name,
      backend: v.backend,
      weight: v.weight,
      requests: n,
      errors,
      errorRate: n ? round(errors / n, 6) : null,
      latencyMs: distribution(f, 'lat'),
      ttftMs: distribution(f, 'ttft'),
      inputTokens: describe(moments(f, 'in')),
      outputTokens: describe(moments(f, 'out')),
      costPerRequest: describe(moments(f, 'cost')),
      metrics: Object.fromEntries(metricNames.map((m) => [m, describe(moments(f, `m:${m}`))])),
    }
  })
  const control = exp.variants[0]!
  const cf = fieldsOf(control.name)
  const comparisons = exp.variants.slice(1).map((v) => {
    const f = fieldsOf(v.name)
    const t = (name: string) => comparison(welchTTest(moments(cf, name), moments(f, name), conf))
    return {
      variant: v.name,
      against: control.name,
      latencyMs: t('lat'),
      ttftMs: t('ttft'),
      costPerRequest: t('cost'),
      outputTokens: t('out'),
      errorRate: comparison(twoProportionZTest({ successes: cf.err ?? 0, n: cf.n ?? 0 }, { successes: f.err ?? 0, n: f.n ?? 0 }, conf)),
      metrics: Object.fromEntries(metricNames.map((m) => [m, t(`m:${m}`)])),
    }
  })
  const startMs = exp.startMs ?? data.startMs
  const smallest = Math.min(...variants.map((v) => v.requests))
  const sampleSizeReached = exp.minimumSampleSize === undefined ? null : smallest >= exp.minimumSampleSize
  const durationReached = reached(exp, startMs, now)
  return {
    object: 'experiment',
    name: exp.name,
    namespace: exp.namespace,
    routes: exp.routes,
    trafficPercent: exp.trafficPercent,
    metrics: exp.metrics,
    confidenceLevel: conf,
    start: startMs !== undefined ? new Date(startMs).toISOString() : null,
    durationMs: exp.durationMs ?? null,
    minimumSampleSize: exp.minimumSampleSize ?? null,
    sampleSizeReached,
    durationReached,
    /** Every stopping condition the experiment names holds; read the comparisons only then. */
    complete: sampleSizeReached !== false && durationReached !== false && smallest > 0,
    variants,
    comparisons,
  }
}
