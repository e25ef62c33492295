// The math behind A/B experiment reports: per-variant difference against
// control, its confidence interval and a two-sided p-value. Pure functions
// on summaries, so replicas only have to share sums and counts.
//
// Invalid input (NaN, negative counts, n too small, a confidence outside
// (0, 1)) gives `null` from the tests and NaN from the distribution
// functions: a report shows "no result", it never throws.

/** Mergeable running moments: sums add across replicas. */
export interface Moments {
  n: number
  sum: number
  sumSq: number
}

export interface MeanSummary {
  n: number
  mean: number
  /** Sample variance (n − 1 denominator); 0 when n < 2. */
  variance: number
}

export interface Comparison {
  /** treatment − control */
  diff: number
  /** diff / control mean; null when the control mean is 0. */
  relative: number | null
  /** Confidence interval of diff. */
  ci: [number, number]
  /** Two-sided. */
  pValue: number
  /** t or z */
  statistic: number
  /** Welch–Satterthwaite degrees of freedom (t-test only). */
  df?: number
  /** pValue < 1 − confidence */
  significant: boolean
}

const finite = Number.isFinite
const SQRT2PI = Math.sqrt(2 * Math.PI)
const LN_SQRT2PI = 0.5 * Math.log(2 * Math.PI)

/**
 * Mean and sample variance from sums. Sums of squares lose precision when
 * the mean is large against the spread (latencies in ms are fine; epoch
 * timestamps are not); rounding can then push the variance below zero,
 * which is clamped to 0. An empty or invalid summary has mean NaN.
 */
export function summarize(m: Moments): MeanSummary {
  const { n, sum, sumSq } = m
  if (!(n >= 1) || !finite(n) || !finite(sum) || !(sumSq >= 0) || !finite(sumSq)) return { n: finite(n) && n > 0 ? n : 0, mean: NaN, variance: 0 }
  const mean = sum / n
  if (n < 2) return { n, mean, variance: 0 }
  const variance = (sumSq - mean * sum) / (n - 1)
  return { n, mean, variance: variance > 0 ? variance : 0 }
}

// --- normal ---------------------------------------------------------------

/** exp(−x²/2) without the rounding of x² (which would cost ~1e-13 at x = 37). */
function gaussExp(x: number): number {
  const hi = Math.round(x * 16) / 16
  return Math.exp(-hi * hi / 2) * Math.exp(-(x - hi) * (x + hi) / 2)
}

/** Φ(x) − ½ for |x| < 2: φ(x)·Σ x^(2n+1)/(1·3·…·(2n+1)), all terms one sign. */
function halfMass(x: number): number {
  let term = x
  let sum = x
  for (let n = 1; Math.abs(term) > Math.abs(sum) * 1e-17; n++) {
    term *= x * x / (2 * n + 1)
    sum += term
  }
  return gaussExp(x) / SQRT2PI * sum
}

/**
 * Φ(z), to ~1e-14 relative everywhere, tails included: Φ(−30) is 4.9e-198,
 * not 0 (it underflows past −38.5). Near 0 a series with positive terms;
 * in the tails Laplace's continued fraction for the Mills ratio, so a small
 * tail is computed directly rather than as 1 − something.
 */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return NaN
  const x = Math.abs(z)
  const density = gaussExp(x) / SQRT2PI
  let tail: number
  if (x < 2) {
    tail = 0.5 - halfMass(x)
  } else {
    // 1 − Φ(x) = φ(x) / (x + 1/(x + 2/(x + 3/(x + …)))), by modified Lentz.
    let f = x
    let c = x
    let d = 0
    for (let k = 1; k < 500; k++) {
      d = 1 / (x + k * d)
      c = x + k / c
      const delta = c * d
      f *= delta
      if (Math.abs(delta - 1) < 1e-16) break
    }
    tail = x === Infinity ? 0 : density / f
  }
  return z > 0 ? 1 - tail : tail
}

// Acklam's rational approximation (relative error < 1.15e-9), then one
// Halley step against normalCdf to reach double precision.
const A = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239] as const
const B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1] as const
const C = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783] as const
const D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416] as const

/** Φ⁻¹(q) for 0 < q ≤ 0.5 (a non-positive result). */
function lowerNormalQuantile(q: number): number {
  let x: number
  if (q < 0.02425) {
    const r = Math.sqrt(-2 * Math.log(q))
    x = (((((C[0] * r + C[1]) * r + C[2]) * r + C[3]) * r + C[4]) * r + C[5]) / ((((D[0] * r + D[1]) * r + D[2]) * r + D[3]) * r + 1)
  } else {
    const s = q - 0.5
    const r = s * s
    x = (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * s / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1)
  }
  // Below ~1e-300 Φ(x) is subnormal and the step would not help.
  if (q > 1e-306) {
    // Near the middle compare Φ(x) − ½ with q − ½ (exact), not Φ(x) with q.
    const err = x > -2 ? halfMass(x) - (q - 0.5) : normalCdf(x) - q
    const u = err * SQRT2PI * Math.exp(x * x / 2)
    x -= u / (1 + x * u / 2)
  }
  return x
}

/** Φ⁻¹(p): ±Infinity at 0 and 1, NaN outside [0, 1]. */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) return NaN
  if (p === 0) return -Infinity
  if (p === 1) return Infinity
  // 1 − p is exact for p ≥ 0.5, so the upper half loses nothing by symmetry.
  return p <= 0.5 ? lowerNormalQuantile(p) : -lowerNormalQuantile(1 - p)
}

// --- gamma and incomplete beta -------------------------------------------

// Lanczos (g = 7, n = 9): ~1e-15 relative for x ≥ 0.5.
const LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7] as const

function logGamma(x: number): number {
  if (x < 0.5) return logGamma(x + 1) - Math.log(x) // x > 0 only here
  const y = x - 1
  let s = LANCZOS[0]
  for (let i = 1; i < 9; i++) s += LANCZOS[i]! / (y + i)
  const t = y + 7.5
  return LN_SQRT2PI + (y + 0.5) * Math.log(t) - t + Math.log(s)
}

/** logΓ(x) minus Stirling's (x − ½)log x − x + log√(2π), for x ≥ 10. */
function stirlingRest(x: number): number {
  const r = 1 / (x * x)
  return (1 / 12 - r * (1 / 360 - r * (1 / 1260 - r * (1 / 1680 - r / 1188)))) / x
}

/**
 * log B(a, b). For a large second argument logΓ(q) − logΓ(p + q) is taken
 * from Stirling's series, not as a difference of two huge numbers: at
 * df = 10⁶ the plain way would lose ~9 digits of the p-value.
 */
function logBeta(a: number, b: number): number {
  const p = Math.min(a, b)
  const q = Math.max(a, b)
  if (q < 10) return logGamma(p) + logGamma(q) - logGamma(p + q)
  const s = p + q
  return logGamma(p) + stirlingRest(q) - stirlingRest(s) - p * Math.log(q) - (s - 0.5) * Math.log1p(p / q) + p
}

const TINY = 1e-300
const EPS = 1e-16

/** Continued fraction for I_x(a, b) (Numerical Recipes' betacf, modified Lentz). */
function betaFraction(x: number, a: number, b: number): number {
  const qab = a + b
  const qap = a + 1
  const qam = a - 1
  let c = 1
  let d = 1 - qab * x / qap
  if (Math.abs(d) < TINY) d = TINY
  d = 1 / d
  let h = d
  // Converges in O(√max(a, b)) steps; df ≤ 10⁶ here, so this is plenty.
  for (let m = 1; m <= 100_000; m++) {
    const m2 = 2 * m
    let aa = m * (b - m) * x / ((qam + m2) * (a + m2))
    d = 1 + aa * d
    if (Math.abs(d) < TINY) d = TINY
    c = 1 + aa / c
    if (Math.abs(c) < TINY) c = TINY
    d = 1 / d
    h *= d * c
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
    d = 1 + aa * d
    if (Math.abs(d) < TINY) d = TINY
    c = 1 + aa / c
    if (Math.abs(c) < TINY) c = TINY
    d = 1 / d
    const del = d * c
    h *= del
    if (Math.abs(del - 1) < EPS) break
  }
  return h
}

/**
 * [I_x(a, b), 1 − I_x(a, b)], given x, y = 1 − x and both logs (the caller
 * knows them more precisely than log(x) would: with a = df/2 large, x^a
 * turns x's rounding into ~df·1e-16 of error). Whichever side the fraction
 * converges on is computed directly, so a small result keeps its digits.
 */
function betaIncPair(x: number, y: number, logX: number, logY: number, a: number, b: number): [number, number] {
  const front = Math.exp(a * logX + b * logY - logBeta(a, b))
  if (x < (a + 1) / (a + b + 2)) {
    const v = front * betaFraction(x, a, b) / a
    return [v, 1 - v]
  }
  const v = front * betaFraction(y, b, a) / b
  return [1 - v, v]
}

// --- Student's t -----------------------------------------------------------

// Past this df the t distribution is taken from its normal expansion
// (error O(df⁻⁴)), where the continued fraction would get slow.
const DF_NORMAL = 1e6

/**
 * [P(|T| > t), P(|T| < t)] for t ≥ 0. Both are computed directly, so a tiny
 * two-sided p-value keeps its relative accuracy (it underflows to 0 only
 * below ~1e-308).
 */
function tTails(t: number, df: number): [number, number] {
  if (df > DF_NORMAL) {
    // Past t = 40 the tail is below 1e-340 at any df here; the series
    // (in t²/ν) would not hold that far out.
    if (t >= 40) return [0, 1]
    // The Cornish–Fisher series below, inverted: z as a series in t.
    const t2 = t * t
    const z = t - t * (t2 + 1) / (4 * df) + t * ((13 * t2 + 8) * t2 + 3) / (96 * df * df) - t * (((35 * t2 + 19) * t2 + 1) * t2 - 15) / (384 * df * df * df)
    const tail = normalCdf(-z)
    return [2 * tail, 1 - 2 * tail]
  }
  if (t === Infinity) return [0, 1]
  // x = ν/(ν + t²) = 1/(1 + s²) and y = 1 − x, with s = t/√ν; in terms of
  // r = 1/s once s > 1, so huge t neither overflows nor loses the tail.
  const root = Math.sqrt(df)
  const far = t > root
  const r = far ? root / t : t / root
  const r2 = r * r
  const logOnePlus = Math.log1p(r2)
  const near1 = 1 / (1 + r2)
  const near0 = r2 / (1 + r2)
  const logNear0 = 2 * Math.log(r) - logOnePlus
  return far
    ? betaIncPair(near0, near1, logNear0, -logOnePlus, df / 2, 0.5)
    : betaIncPair(near1, near0, -logOnePlus, logNear0, df / 2, 0.5)
}

const badDf = (df: number) => !(df > 0) // NaN too

/** CDF of Student's t with df degrees of freedom (df > 0, need not be an integer). */
export function studentTCdf(t: number, df: number): number {
  if (Number.isNaN(t) || badDf(df)) return NaN
  if (df === Infinity) return normalCdf(t)
  const [outside, inside] = tTails(Math.abs(t), df)
  if (t < 0) return outside / 2
  return outside < 0.5 ? 1 - outside / 2 : 0.5 + inside / 2
}

function logTPdf(t: number, df: number): number {
  return -logBeta(df / 2, 0.5) - 0.5 * Math.log(df) - (df + 1) / 2 * Math.log1p(t * t / df)
}

/**
 * t ≥ 0 with P(|T| < t) = mass, for mass < ½ (1 − 2q is exact there). Solved
 * on the central mass, not the tail, so t near 0 keeps its relative digits.
 * The mass is concave in t, so Newton from 0 climbs to the root from below.
 */
function centralTQuantile(mass: number, df: number): number {
  let t = 0
  for (let i = 0; i < 100; i++) {
    const step = (mass - tTails(t, df)[1]) / (2 * Math.exp(logTPdf(t, df)))
    if (!(step > t * 1e-16)) break
    t += step
  }
  return t
}

/** t > 0 with P(T > t) = q, for 0 < q < ½ and df ≤ DF_NORMAL. */
function upperTQuantile(q: number, df: number): number {
  if (q > 0.25) return centralTQuantile(1 - 2 * q, df)
  // Beyond the largest double (df < 1 and a tiny q): say so.
  if (tTails(Number.MAX_VALUE, df)[0] / 2 > q) return Infinity
  const logQ = Math.log(q)
  // Newton on u = log t against log P(T > t): nearly linear in both the
  // normal-like and the power-law regimes, and concave, so after at most
  // one overshoot it closes in from above. The bracket catches the rest.
  const z = -lowerNormalQuantile(q)
  let u = Math.log(z + z * (z * z + 1) / (4 * df))
  let lo = -Infinity
  let hi = Infinity
  for (let i = 0; i < 200; i++) {
    const t = Math.exp(u)
    const logTail = Math.log(tTails(t, df)[0] / 2)
    const h = logTail - logQ
    if (h === 0) return t
    if (h > 0) lo = u
    else hi = u
    const slope = -Math.exp(u + logTPdf(t, df) - logTail)
    let next = u - h / slope
    if (!finite(next) || next <= lo || next >= hi) {
      if (finite(lo) && finite(hi)) next = (lo + hi) / 2
      else next = finite(lo) ? lo + 2 : hi - 2
    }
    if (Math.abs(next - u) <= 1e-15 * Math.max(1, Math.abs(u))) return Math.exp(next)
    u = next
  }
  return Math.exp(u)
}

/** Quantile of Student's t (inverse of studentTCdf): ±Infinity at 0 and 1, NaN outside [0, 1]. */
export function studentTQuantile(p: number, df: number): number {
  if (!(p >= 0 && p <= 1) || badDf(df)) return NaN
  if (p === 0) return -Infinity
  if (p === 1) return Infinity
  if (p === 0.5) return 0
  if (df === Infinity) return normalQuantile(p)
  const q = p < 0.5 ? p : 1 - p
  let t: number
  if (df > DF_NORMAL) {
    // Cornish–Fisher (Abramowitz & Stegun 26.7.5), error O(df⁻⁴).
    const z = -lowerNormalQuantile(q)
    const z2 = z * z
    t = z + z * (z2 + 1) / (4 * df) + z * ((5 * z2 + 16) * z2 + 3) / (96 * df * df) + z * (((3 * z2 + 19) * z2 + 17) * z2 - 15) / (384 * df * df * df)
  } else {
    t = upperTQuantile(q, df)
  }
  return p < 0.5 ? -t : t
}

// --- tests -----------------------------------------------------------------

const validConfidence = (c: number) => c > 0 && c < 1
const validSummary = (s: MeanSummary) => s.n >= 2 && finite(s.n) && finite(s.mean) && s.variance >= 0 && finite(s.variance)

/**
 * Welch's unequal-variance t-test of treatment vs control; null when either
 * side has n < 2 or both variances are 0. Same numbers as R's
 * `t.test(treatment, control)` (Welch is R's default).
 *
 * Both variances 0 means every sample was identical on each side: there is
 * no spread to judge a difference by, so no test is possible (not a
 * p-value of 0), even when the means differ.
 */
export function welchTTest(control: MeanSummary, treatment: MeanSummary, confidence = 0.95): Comparison | null {
  if (!validSummary(control) || !validSummary(treatment) || !validConfidence(confidence)) return null
  const vc = control.variance / control.n
  const vt = treatment.variance / treatment.n
  const se2 = vc + vt
  if (!(se2 > 0)) return null
  const se = Math.sqrt(se2)
  const diff = treatment.mean - control.mean
  const statistic = diff / se
  const df = se2 * se2 / (vc * vc / (control.n - 1) + vt * vt / (treatment.n - 1))
  if (!finite(statistic) || !(df > 0)) return null
  const pValue = Math.min(1, tTails(Math.abs(statistic), df)[0])
  const half = studentTQuantile(1 - (1 - confidence) / 2, df) * se
  return {
    diff,
    relative: control.mean === 0 ? null : diff / control.mean,
    ci: [diff - half, diff + half],
    pValue,
    statistic,
    df,
    significant: pValue < 1 - confidence,
  }
}

const validCount = (c: { successes: number; n: number }) => c.n > 0 && finite(c.n) && c.successes >= 0 && c.successes <= c.n

/**
 * Two-proportion z-test (conversion rates, error rates): pooled SE for the
 * statistic, unpooled Wald SE for the CI, as R's
 * `prop.test(c(treatment, control), n, correct = FALSE)` (its X-squared is
 * statistic², and like R the CI is clipped to [−1, 1]).
 *
 * Null when either n is 0, or the pooled rate is 0 or 1 (no successes, or
 * no failures, anywhere: nothing to test); the caller then shows the rates
 * without a CI. With 0% against 100% the Wald CI collapses to a point.
 */
export function twoProportionZTest(control: { successes: number; n: number }, treatment: { successes: number; n: number }, confidence = 0.95): Comparison | null {
  if (!validCount(control) || !validCount(treatment) || !validConfidence(confidence)) return null
  const pc = control.successes / control.n
  const pt = treatment.successes / treatment.n
  const pooled = (control.successes + treatment.successes) / (control.n + treatment.n)
  if (!(pooled > 0 && pooled < 1)) return null
  const diff = pt - pc
  const statistic = diff / Math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n))
  const pValue = Math.min(1, 2 * normalCdf(-Math.abs(statistic)))
  const half = normalQuantile(1 - (1 - confidence) / 2) * Math.sqrt(pc * (1 - pc) / control.n + pt * (1 - pt) / treatment.n)
  return {
    diff,
    relative: pc === 0 ? null : diff / pc,
    ci: [Math.max(-1, diff - half), Math.min(1, diff + half)],
    pValue,
    statistic,
    significant: pValue < 1 - confidence,
  }
}
