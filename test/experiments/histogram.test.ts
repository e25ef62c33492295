import { describe, expect, it } from 'vitest'
import { RELATIVE_ACCURACY, bucketOf, bucketValue, mergeCounts, quantile, quantiles } from '../../src/experiments/histogram.ts'
import { seeded } from '../helpers/seeded.ts'

const record = (values: number[]) => {
  const m = new Map<number, number>()
  for (const v of values) m.set(bucketOf(v), (m.get(bucketOf(v)) ?? 0) + 1)
  return m
}

/** The value at rank q·(n − 1) of the sorted sample (what the histogram approximates). */
const exact = (sorted: number[], q: number) => sorted[Math.floor(q * (sorted.length - 1))]!

function within(actual: number | undefined, expected: number, rel = RELATIVE_ACCURACY) {
  expect(actual).toBeTypeOf('number')
  const err = Math.abs(actual! - expected) / expected
  if (!(err <= rel + 1e-12)) throw new Error(`${actual} is not within ${rel} of ${expected} (${err})`)
}

describe('buckets', () => {
  it('is 2% relative accuracy', () => {
    expect(RELATIVE_ACCURACY).toBe(0.02)
  })

  it('represents every value within the relative accuracy, 0.01 ms to hours', () => {
    // log-spaced sweep, fine enough to hit both ends of every bucket
    let worst = 0
    for (let e = Math.log(0.0101); e < Math.log(1e7); e += 0.001) {
      const v = Math.exp(e)
      worst = Math.max(worst, Math.abs(bucketValue(bucketOf(v)) - v) / v)
    }
    expect(worst).toBeLessThanOrEqual(RELATIVE_ACCURACY + 1e-12)
    expect(worst).toBeGreaterThan(0.019) // the buckets are not needlessly narrow either
    for (const v of [0.011, 0.05, 1, 1.5, 250, 600_000 /* 10 min */, 3_600_000 /* 1 h */, 86_400_000]) within(bucketValue(bucketOf(v)), v)
  })

  it('is monotone and uses few keys', () => {
    let prev = -Infinity
    for (let v = 0.005; v < 1e6; v *= 1.01) {
      const k = bucketOf(v)
      expect(Number.isInteger(k)).toBe(true)
      expect(k).toBeGreaterThanOrEqual(prev)
      prev = k
    }
    // 0.01 ms .. 10 min in a few hundred hash fields
    expect(bucketOf(600_000) - bucketOf(0.0101)).toBeLessThan(500)
  })

  it('puts zero, negatives, values up to 0.01 ms and NaN in one bucket worth 0, below all others', () => {
    const zero = bucketOf(0)
    for (const v of [-5, -0, 0.001, 0.01, NaN]) expect(bucketOf(v)).toBe(zero)
    expect(bucketValue(zero)).toBe(0)
    expect(bucketOf(0.0100001)).toBeGreaterThan(zero)
  })

  it('gives Infinity a finite key', () => {
    expect(Number.isFinite(bucketOf(Infinity))).toBe(true)
    expect(bucketOf(Infinity)).toBeGreaterThanOrEqual(bucketOf(1e300))
  })
})

describe('quantile', () => {
  it('finds p50/p95/p99 of 1..10000 within 2%', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => i + 1)
    const h = record(values)
    // exact values: R quantile(1:10000, c(.5, .95, .99)) = 5000.5, 9500.05, 9900.01
    const [p50, p95, p99] = quantiles(h, [0.5, 0.95, 0.99])
    within(p50, 5000.5)
    within(p95, 9500.05)
    within(p99, 9900.01)
    within(quantile(h, 0), 1)
    within(quantile(h, 1), 10_000)
  })

  it('finds the quantiles of a skewed latency sample within 2%', () => {
    // log-normal around 300 ms with a tail, plus a few 0-ms cache hits
    const r = seeded(42)
    const values: number[] = []
    for (let i = 0; i < 50_000; i++) {
      const z = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())
      values.push(i % 100 === 0 ? 0 : 300 * Math.exp(0.8 * z))
    }
    const sorted = [...values].sort((a, b) => a - b)
    const qs = [0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999]
    const got = quantiles(record(values), qs)
    qs.forEach((q, i) => within(got[i], exact(sorted, q)))
    expect(quantile(record(values), 0)).toBe(0) // the 0-ms bucket
  })

  it('gives undefined when empty or asked for nonsense', () => {
    expect(quantile([], 0.5)).toBeUndefined()
    expect(quantile(new Map(), 0.99)).toBeUndefined()
    expect(quantile([[5, 0]], 0.5)).toBeUndefined() // only a zero count
    const h = record([1, 2, 3])
    for (const q of [-0.1, 1.1, NaN]) expect(quantile(h, q)).toBeUndefined()
    expect(quantiles(h, [])).toEqual([])
  })

  it('returns a single value for every quantile', () => {
    const h = record([123.4])
    for (const v of quantiles(h, [0, 0.5, 0.99, 1])) within(v, 123.4)
  })

  it('keeps the order of the quantiles asked for', () => {
    const h = record(Array.from({ length: 1000 }, (_, i) => i + 1))
    const [a, b, c] = quantiles(h, [0.99, 0.1, 0.5])
    within(a, 990)
    within(b, 100)
    within(c, 500)
  })

  it('handles very large and very small values', () => {
    // a stuck stream of 10 min among 1-ms answers, and sub-millisecond ones
    const h = record([...Array(98).fill(1), 600_000, 600_000])
    within(quantile(h, 1), 600_000)
    within(quantile(h, 0.5), 1)
    const tiny = record([0.02, 0.03, 0.04, 0.05, 0.06])
    within(quantile(tiny, 0.5), 0.04)
    within(quantile(tiny, 0), 0.02)
  })

  it('ignores buckets with no or negative counts', () => {
    const h = new Map([[bucketOf(10), 5], [bucketOf(1000), 0], [bucketOf(5000), -3]])
    within(quantile(h, 1), 10)
  })
})

describe('merging', () => {
  const values = Array.from({ length: 10_000 }, (_, i) => ((i * 7919) % 10_007) / 3 + 0.5)

  it('of two halves equals the whole', () => {
    const whole = record(values)
    const merged = mergeCounts(record(values.filter((_, i) => i % 2)), record(values.filter((_, i) => !(i % 2))))
    expect(merged).toEqual(whole)
    const qs = [0.5, 0.9, 0.99]
    expect(quantiles(merged, qs)).toEqual(quantiles(whole, qs))
  })

  it('takes string keys and counts as a Redis hash gives them back', () => {
    const whole = record(values)
    // HGETALL → { '-12': '3', '187': '41', ... }; counts come back as strings too
    const fromRedis = Object.entries(Object.fromEntries([...whole].map(([k, c]) => [String(k), String(c)])))
    const parsed = mergeCounts(fromRedis as unknown as Array<[string, number]>)
    expect(parsed).toEqual(whole)
    expect(quantiles(fromRedis as unknown as Array<[string, number]>, [0.5, 0.99])).toEqual(quantiles(whole, [0.5, 0.99]))
    // mixed number and string keys for the same bucket add up
    expect(mergeCounts([[5, 2]], [['5', 3]], new Map([['-7', 1]]))).toEqual(new Map([[5, 5], [-7, 1]]))
  })

  it('skips fields that are not bucket keys', () => {
    const m = mergeCounts([['n', 10], ['1.5', 2], ['', 4], [' ', 1], ['12', 3], ['13', NaN]])
    expect(m).toEqual(new Map([[12, 3]]))
  })

  it('of nothing is empty', () => {
    expect(mergeCounts().size).toBe(0)
    expect(mergeCounts([], new Map()).size).toBe(0)
  })
})
