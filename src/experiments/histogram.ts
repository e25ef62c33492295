// A mergeable latency histogram (ms): counts per logarithmic bucket, kept
// in a shared store (Redis hash fields via HINCRBY, a Durable Object) so
// replicas merge by adding counts. Buckets have a fixed relative width, as
// in DDSketch: every quantile comes back within RELATIVE_ACCURACY of a value
// that was really recorded at that rank, from 0.01 ms to hours, in a few
// hundred keys.
//
// The keys are a storage format: changing RELATIVE_ACCURACY or the bucket
// formula makes existing counts meaningless, so treat them as fixed.

/** α: a bucket's representative is within this fraction of every value in it. */
export const RELATIVE_ACCURACY = 0.02

const GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
const LN_GAMMA = Math.log(GAMMA)

/** At or below this (ms), values share one bucket, reported as 0. */
const MIN_VALUE = 0.01

// Bucket k holds (γ^(k−1), γ^k]; the first real one is the one holding
// values just above MIN_VALUE, and the key below it is the zero bucket.
const ZERO_KEY = Math.ceil(Math.log(MIN_VALUE) / LN_GAMMA) - 1
// Infinity would make a useless hash field; it goes to the last bucket.
const MAX_KEY = Math.ceil(Math.log(Number.MAX_VALUE) / LN_GAMMA)

/**
 * The bucket of a value in ms: an integer, negative below 1 ms (the zero
 * bucket is −116; 10 minutes is 333). NaN lands in the zero bucket, but
 * callers should not record it.
 */
export function bucketOf(value: number): number {
  if (!(value > MIN_VALUE)) return ZERO_KEY
  if (value === Infinity) return MAX_KEY
  return Math.ceil(Math.log(value) / LN_GAMMA)
}

/**
 * The value a bucket stands for: 2γ^k/(γ + 1), which is within α of both
 * ends of (γ^(k−1), γ^k]. The zero bucket (and anything below it) is 0.
 */
export function bucketValue(key: number): number {
  if (key <= ZERO_KEY) return 0
  return 2 * Math.exp(key * LN_GAMMA) / (GAMMA + 1)
}

type Counts = Iterable<[number | string, number]>

/**
 * Adds up bucket counts from any number of sources (Redis HGETALL entries,
 * Maps, arrays). Keys may be numbers or their decimal strings; fields that
 * are not integer keys, and counts that are not finite, are skipped.
 */
export function mergeCounts(...parts: Counts[]): Map<number, number> {
  const merged = new Map<number, number>()
  for (const part of parts) {
    for (const [k, c] of part) {
      const key = typeof k === 'number' ? k : k.trim() === '' ? NaN : Number(k)
      const count = Number(c) // a Redis client may hand the count back as a string too
      if (!Number.isInteger(key) || !Number.isFinite(count)) continue
      merged.set(key, (merged.get(key) ?? 0) + count)
    }
  }
  return merged
}

/**
 * Several quantiles (q in [0, 1]) from one pass: the value at rank
 * q·(n − 1), counting from the smallest, as DDSketch does. undefined for an
 * empty histogram or a q outside [0, 1]. Buckets whose count is not
 * positive are ignored.
 */
export function quantiles(counts: Counts, qs: readonly number[]): Array<number | undefined> {
  const buckets = [...mergeCounts(counts)].filter(([, c]) => c > 0).sort((a, b) => a[0] - b[0])
  let total = 0
  for (const [, c] of buckets) total += c
  return qs.map((q) => {
    if (!total || !(q >= 0 && q <= 1)) return undefined
    const rank = q * (total - 1)
    let seen = 0
    for (const [key, c] of buckets) {
      seen += c
      if (seen > rank) return bucketValue(key)
    }
    return bucketValue(buckets[buckets.length - 1]![0])
  })
}

/** One quantile; see quantiles. */
export function quantile(counts: Counts, q: number): number | undefined {
  return quantiles(counts, [q])[0]
}
