import { describe, expect, it } from 'vitest'
import {
  normalCdf,
  normalQuantile,
  studentTCdf,
  studentTQuantile,
  summarize,
  twoProportionZTest,
  welchTTest,
  type Comparison,
  type Moments,
} from '../../src/experiments/stats.ts'

// Reference values: where a textbook, R or Wikipedia prints one it is cited,
// to the digits printed. The extra digits come from Python: scipy 1.17
// (scipy.stats.t / norm / ttest_ind(equal_var=False) /
// chi2_contingency(correction=False)) and, independently, mpmath 1.3 at 40
// digits (ncdf, betainc, findroot). Both agreed to >= 14 digits everywhere.

/** |actual − expected| ≤ rel·|expected| */
function close(actual: number | undefined, expected: number, rel = 1e-10) {
  expect(actual).toBeTypeOf('number')
  const err = Math.abs((actual as number) - expected)
  if (!(err <= rel * Math.abs(expected))) {
    throw new Error(`${actual} is not ${expected} to ${rel} (relative error ${err / Math.abs(expected)})`)
  }
}

const moments = (xs: number[]): Moments => ({ n: xs.length, sum: xs.reduce((a, b) => a + b, 0), sumSq: xs.reduce((a, b) => a + b * b, 0) })

// R's `sleep` data set (Cushny & Peebles), extra hours of sleep per drug.
const SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
const SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]

describe('summarize', () => {
  it('gives the mean and the n − 1 variance', () => {
    // R: mean(sleep$extra[1:10]) = 0.75, var(...) = 3.200556; var(group 2) = 4.009
    const s = summarize(moments(SLEEP_1))
    expect(s.n).toBe(10)
    close(s.mean, 0.75, 1e-14)
    close(s.variance, 3.2005555555555554, 1e-12)
    close(summarize(moments(SLEEP_2)).variance, 4.009, 1e-12)
  })

  it('merges by adding sums', () => {
    const a = moments(SLEEP_1.slice(0, 4))
    const b = moments(SLEEP_1.slice(4))
    const s = summarize({ n: a.n + b.n, sum: a.sum + b.sum, sumSq: a.sumSq + b.sumSq })
    close(s.variance, 3.2005555555555554, 1e-12)
  })

  it('clamps a variance that rounding made negative', () => {
    // three copies of 1e9 + 0.1: sumSq − mean·sum comes out as −256 in doubles
    const s = summarize(moments([1e9 + 0.1, 1e9 + 0.1, 1e9 + 0.1]))
    expect(s.variance).toBe(0)
  })

  it('has variance 0 below two samples and no mean for none or for junk', () => {
    expect(summarize({ n: 1, sum: 5, sumSq: 25 })).toEqual({ n: 1, mean: 5, variance: 0 })
    expect(summarize({ n: 0, sum: 0, sumSq: 0 }).mean).toBeNaN()
    expect(summarize({ n: -3, sum: 1, sumSq: 1 })).toEqual({ n: 0, mean: NaN, variance: 0 })
    expect(summarize({ n: 3, sum: NaN, sumSq: 1 }).mean).toBeNaN()
    expect(summarize({ n: 3, sum: 1, sumSq: -1 }).mean).toBeNaN()
  })
})

describe('normalCdf', () => {
  it('matches R pnorm() / mpmath, tails included', () => {
    const cases: Array<[number, number]> = [
      [1.96, 0.97500210485177956], // pnorm(1.96) = 0.9750021
      [-1, 0.15865525393145705], // pnorm(-1) = 0.1586553
      [0.5, 0.6914624612740131],
      [3, 0.99865010196836991],
      [-5, 2.8665157187919391e-7],
      [-10, 7.6198530241605261e-24], // pnorm(-10) = 7.619853e-24
      [-30, 4.9067139271481871e-198], // pnorm(-30) = 4.906714e-198
      [-37.5, 4.6053530095819548e-308],
    ]
    for (const [z, p] of cases) close(normalCdf(z), p, 1e-13)
  })

  it('is symmetric and handles the ends', () => {
    for (const z of [0.1, 0.7, 1.3, 2, 2.5, 4]) close(normalCdf(z) + normalCdf(-z), 1, 1e-15)
    expect(normalCdf(0)).toBe(0.5)
    expect(normalCdf(-Infinity)).toBe(0)
    expect(normalCdf(Infinity)).toBe(1)
    expect(normalCdf(-40)).toBe(0) // 3.6e-350 underflows
    expect(normalCdf(NaN)).toBeNaN()
  })
})

describe('normalQuantile', () => {
  it('matches R qnorm() / mpmath', () => {
    const cases: Array<[number, number]> = [
      [0.975, 1.9599639845400539], // qnorm(0.975) = 1.959964 (every statistics table)
      [0.995, 2.5758293035489005], // 2.575829
      [0.9, 1.2815515655446006],
      [0.25, -0.67448975019608174],
      [1e-10, -6.3613409024040562],
      [1e-300, -37.047096299361199],
      [0.500000001, 2.5066282037387114e-9],
    ]
    for (const [p, z] of cases) close(normalQuantile(p), z, 1e-13)
  })

  it('inverts normalCdf', () => {
    // (upper tail only to z = 1.5: Φ(6) = 1 − 1e-9 keeps only 7 digits of its tail)
    for (const z of [-35, -20, -8, -3, -1, -0.01, 0.2, 1.5]) close(normalQuantile(normalCdf(z)), z, 1e-12)
  })

  it('handles the ends and junk', () => {
    expect(normalQuantile(0.5)).toBe(0)
    expect(normalQuantile(0)).toBe(-Infinity)
    expect(normalQuantile(1)).toBe(Infinity)
    for (const p of [-0.1, 1.1, NaN]) expect(normalQuantile(p)).toBeNaN()
  })
})

describe('studentTCdf', () => {
  it('matches R pt() / scipy stdtr / mpmath betainc', () => {
    const cases: Array<[number, number, number]> = [
      [2, 10, 0.96330598261462982], // pt(2, 10) = 0.963306
      [1.5, 3, 0.88470806737758847],
      [-4, 5, 0.0051617077404157269],
      [-10, 30, 2.2876257041148066e-11],
      [-50, 4, 4.7872268284848492e-7],
      [0.3, 100, 0.61760005984984826],
      [-3, 1000, 0.0013833545221190962],
      // non-integer df, as Welch gives
      [-2.5, 17.776, 0.01122230027525769],
      [2, 0.5, 0.77724255490843438],
      [-8, 1.5, 0.016459175470453411],
      // large df: 1e5 through the continued fraction, 2e6 through the expansion
      [-3, 1e5, 0.0013502304420323596],
      [-3, 2e6, 0.0013499146511160679],
    ]
    for (const [t, df, p] of cases) close(studentTCdf(t, df), p, 1e-10)
  })

  it('matches the closed forms for df = 1 (Cauchy) and df = 2', () => {
    // ½ + atan(t)/π and ½ + t/(2√(2 + t²)), rearranged so the lower tail does not cancel
    const cauchy = (t: number) => Math.atan2(1, -t) / Math.PI
    const df2 = (t: number) => {
      const s = Math.sqrt(2 + t * t)
      return t < 0 ? 1 / (s * (s - t)) : 0.5 + t / (2 * s)
    }
    for (const t of [-1e6, -30, -3, -1, -0.2, 0, 0.4, 2, 7, 1e4]) {
      close(studentTCdf(t, 1), cauchy(t), 1e-12)
      close(studentTCdf(t, 2), df2(t), 1e-12)
    }
  })

  it('keeps far tails (no 0, no NaN) and goes to the normal as df grows', () => {
    // df = 2: P(T < t) = (1 − |t|/√(2 + t²))/2 ≈ 1/(2t²) for t → −∞; df = 1: ≈ 1/(π|t|)
    close(studentTCdf(-1e100, 2), 0.5e-200, 1e-12)
    close(studentTCdf(-1e300, 1), 1 / (Math.PI * 1e300), 1e-12)
    expect(studentTCdf(-Infinity, 3)).toBe(0)
    expect(studentTCdf(Infinity, 3)).toBe(1)
    expect(studentTCdf(-1e6, 100)).toBe(0) // 4e-502 underflows
    close(studentTCdf(-2, 1e12), normalCdf(-2), 1e-11)
    close(studentTCdf(-2, Infinity), normalCdf(-2), 0)
    // no seam where the method changes at df = 1e6
    close(studentTCdf(-2.5, 1e6), studentTCdf(-2.5, 1e6 + 1), 1e-9)
  })

  it('says NaN for junk', () => {
    expect(studentTCdf(NaN, 3)).toBeNaN()
    for (const df of [0, -1, NaN]) expect(studentTCdf(1, df)).toBeNaN()
  })
})

describe('studentTQuantile', () => {
  it('matches R qt() / scipy stdtrit / mpmath', () => {
    const cases: Array<[number, number, number]> = [
      [0.975, 10, 2.2281388519862742], // qt(0.975, 10) = 2.228139; NIST/SEMATECH t table: 2.228
      [0.995, 30, 2.749995653567225], // NIST t table: 2.750
      [0.975, 17.776, 2.1028213103802212],
      [0.95, 2.5, 2.5582186141359355],
      [1e-6, 4, -41.577854150450975],
      [0.9, 1000, 1.2823987214609246],
      [0.6, 7, 0.26316686135202275],
      [0.9999, 0.7, 97570.040178784196],
      [0.975, 1e5, 1.9599877075346093],
      [0.975, 5e6, 1.9599644589944128],
    ]
    for (const [p, df, t] of cases) close(studentTQuantile(p, df), t, 1e-10)
  })

  it('matches the closed forms for df = 1 and df = 2', () => {
    for (const p of [1e-12, 1e-4, 0.025, 0.3, 0.49, 0.51, 0.8, 0.975, 0.9999]) {
      const q = Math.min(p, 1 - p)
      close(Math.abs(studentTQuantile(p, 1)), 1 / Math.tan(Math.PI * q), 1e-11)
      close(studentTQuantile(p, 2), (2 * p - 1) / Math.sqrt(2 * p * (1 - p)), 1e-11)
    }
  })

  it('inverts studentTCdf', () => {
    for (const df of [0.8, 1.3, 3, 9.5, 40, 777, 5e4, 3e6]) {
      for (const p of [1e-50, 1e-8, 0.001, 0.05, 0.3, 0.4999, 0.7, 0.99]) {
        close(studentTCdf(studentTQuantile(p, df), df), p, 1e-10)
      }
    }
  })

  it('handles the ends and junk', () => {
    expect(studentTQuantile(0.5, 4)).toBe(0)
    expect(studentTQuantile(0, 4)).toBe(-Infinity)
    expect(studentTQuantile(1, 4)).toBe(Infinity)
    expect(studentTQuantile(1e-300, 0.3)).toBe(-Infinity) // the true value, ~-3e998, is past any double
    close(studentTQuantile(0.975, Infinity), 1.9599639845400539, 1e-13)
    for (const [p, df] of [[NaN, 3], [1.5, 3], [-1, 3], [0.5, 0], [0.9, NaN]] as const) expect(studentTQuantile(p, df)).toBeNaN()
  })
})

function expectComparison(c: Comparison | null, want: { diff: number; statistic: number; pValue: number; ci: [number, number]; df?: number }, rel = 1e-9) {
  expect(c).not.toBeNull()
  close(c!.diff, want.diff, rel)
  close(c!.statistic, want.statistic, rel)
  close(c!.pValue, want.pValue, rel)
  close(c!.ci[0], want.ci[0], rel)
  close(c!.ci[1], want.ci[1], rel)
  if (want.df !== undefined) close(c!.df, want.df, rel)
}

describe('welchTTest', () => {
  const s1 = summarize(moments(SLEEP_1))
  const s2 = summarize(moments(SLEEP_2))

  it("matches R's t.test(extra ~ group, data = sleep)", () => {
    // R prints: t = -1.8608, df = 17.776, p-value = 0.07939,
    // 95 percent confidence interval: -3.3654832  0.2054832 (group 1 − group 2)
    const c = welchTTest(s2, s1)
    expectComparison(c, {
      diff: -1.58,
      statistic: -1.8608134674868526,
      df: 17.776473516178488,
      pValue: 0.0793941401873583,
      ci: [-3.3654832307117104, 0.20548323071171137],
    })
    close(c!.relative!, -1.58 / 2.33, 1e-12)
    expect(c!.significant).toBe(false)
    // conf.level = 0.99
    const c99 = welchTTest(s2, s1, 0.99)!
    close(c99.ci[0], -4.027632919919039, 1e-9)
    close(c99.ci[1], 0.86763291991904, 1e-9)
  })

  it("matches Wikipedia's Welch's t-test example A1 vs A2", () => {
    // Wikipedia, "Welch's t-test", Examples: t = -2.46, ν ≈ 25.0, p = 0.021
    const a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
    const a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
    const c = welchTTest(summarize(moments(a2)), summarize(moments(a1)))
    expectComparison(c, {
      diff: -2.16666666666667,
      statistic: -2.455356398286006,
      df: 24.988529290231416,
      pValue: 0.021378001462866992,
      ci: [-3.98409626714093, -0.349237066192406],
    })
    expect(c!.significant).toBe(true)
    expect(welchTTest(summarize(moments(a2)), summarize(moments(a1)), 0.99)!.significant).toBe(false)
  })

  it('is antisymmetric in its arguments', () => {
    const ab = welchTTest(s1, s2)!
    const ba = welchTTest(s2, s1)!
    close(ab.diff, -ba.diff, 1e-14)
    close(ab.ci[0], -ba.ci[1], 1e-12)
    close(ab.pValue, ba.pValue, 1e-14)
  })

  it('with a constant control becomes the one-sample test against its mean', () => {
    // R: t.test(sleep$extra[11:20]): t = 3.6799, df = 9, p-value = 0.005076,
    // 95 percent confidence interval: 0.8976775 3.7623225
    const c = welchTTest({ n: 50, mean: 0, variance: 0 }, s2)
    expectComparison(c, { diff: 2.33, statistic: 3.6799158947951884, df: 9, pValue: 0.005076132649772409, ci: [0.8976775393767051, 3.7623224606232943] })
    expect(c!.relative).toBeNull() // control mean 0
  })

  it('gives null when no test is possible', () => {
    // identical samples on both sides: no spread to judge any difference by
    expect(welchTTest({ n: 10, mean: 1, variance: 0 }, { n: 10, mean: 2, variance: 0 })).toBeNull()
    expect(welchTTest({ n: 1, mean: 1, variance: 0 }, s2)).toBeNull()
    expect(welchTTest(s1, summarize({ n: 0, sum: 0, sumSq: 0 }))).toBeNull()
    expect(welchTTest({ n: 10, mean: NaN, variance: 1 }, s2)).toBeNull()
    expect(welchTTest({ n: 10, mean: 1, variance: -1 }, s2)).toBeNull()
    expect(welchTTest(s1, s2, 1)).toBeNull()
    expect(welchTTest(s1, s2, 0)).toBeNull()
    expect(welchTTest(s1, s2, NaN)).toBeNull()
  })

  it('stays finite for huge samples and huge effects', () => {
    // 1e9 requests a side: df ~ 2e9, the t-test is the z-test
    const big = welchTTest({ n: 1e9, mean: 100, variance: 400 }, { n: 1e9, mean: 100.002, variance: 400 })!
    close(big.df!, 1e9 * 2 - 2, 1e-9)
    const z = 0.002 / Math.sqrt(800 / 1e9)
    close(big.statistic, z, 1e-9)
    close(big.pValue, 2 * normalCdf(-z), 1e-8)
    close(big.ci[1] - big.diff, 1.9599639845400539 * Math.sqrt(800 / 1e9), 1e-8)

    const far = welchTTest({ n: 1000, mean: 100, variance: 1 }, { n: 1000, mean: 200, variance: 1 })!
    expect(far.pValue).toBe(0) // t ≈ 2236: underflows, as it should
    expect(far.significant).toBe(true)
    const near = welchTTest({ n: 5, mean: 10, variance: 4 }, { n: 5, mean: 10, variance: 9 })!
    expect(near.pValue).toBe(1)
    expect(near.statistic).toBe(0)
  })
})

describe('twoProportionZTest', () => {
  // R: prop.test(c(x_treatment, x_control), c(n_treatment, n_control), correct = FALSE)
  // gives X-squared = statistic², the same p-value, and the Wald CI. Values
  // from scipy chi2_contingency(correction=False) and mpmath for the CI.
  it('matches prop.test(c(130, 100), c(1000, 1000), correct = FALSE)', () => {
    const c = twoProportionZTest({ successes: 100, n: 1000 }, { successes: 130, n: 1000 })
    expectComparison(c, { diff: 0.03, statistic: 2.10274060562211, pValue: 0.03548845046647463, ci: [0.00206793443937637, 0.0579320655606236] })
    close(c!.statistic ** 2, 4.421518054532056, 1e-12) // X-squared
    close(c!.relative!, 0.3, 1e-12)
    expect(c!.significant).toBe(true)
    expect(c!.df).toBeUndefined()
  })

  it('matches prop.test(c(1100, 1000), c(10000, 10000), correct = FALSE)', () => {
    const c = twoProportionZTest({ successes: 1000, n: 10000 }, { successes: 1100, n: 10000 })
    expectComparison(c, { diff: 0.01, statistic: 2.30663477381701, pValue: 0.021075189273797777, ci: [0.00150405913151212, 0.0184959408684879] })
  })

  it('matches prop.test(c(490, 400), c(500, 500), correct = FALSE), a tiny p-value', () => {
    const c = twoProportionZTest({ successes: 400, n: 500 }, { successes: 490, n: 500 })
    expectComparison(c, { diff: 0.18, statistic: 9.09601490939132, pValue: 9.370713134121627e-20, ci: [0.14285364071146, 0.21714635928854] })
    close(c!.relative!, 0.225, 1e-12)
  })

  it('handles a control with no successes', () => {
    const c = twoProportionZTest({ successes: 0, n: 40 }, { successes: 5, n: 40 })
    expectComparison(c, { diff: 0.125, statistic: 2.3094010767585, pValue: 0.020921335337794035, ci: [0.0225110300430554, 0.227488969956945] })
    expect(c!.relative).toBeNull()
  })

  it('clips the CI to [−1, 1] as R does, and collapses it at 0% vs 100%', () => {
    const clipped = twoProportionZTest({ successes: 1, n: 2 }, { successes: 2, n: 2 })!
    expect(clipped.ci[1]).toBe(1)
    const point = twoProportionZTest({ successes: 0, n: 10 }, { successes: 10, n: 10 })!
    expect(point.ci).toEqual([1, 1])
    close(point.statistic, Math.sqrt(20), 1e-14)
  })

  it('gives null when nothing can be tested', () => {
    const ok = { successes: 3, n: 10 }
    expect(twoProportionZTest({ successes: 0, n: 0 }, ok)).toBeNull()
    expect(twoProportionZTest({ successes: 0, n: 10 }, { successes: 0, n: 10 })).toBeNull() // pooled 0
    expect(twoProportionZTest({ successes: 10, n: 10 }, { successes: 5, n: 5 })).toBeNull() // pooled 1
    expect(twoProportionZTest({ successes: 11, n: 10 }, ok)).toBeNull()
    expect(twoProportionZTest({ successes: -1, n: 10 }, ok)).toBeNull()
    expect(twoProportionZTest({ successes: NaN, n: 10 }, ok)).toBeNull()
    expect(twoProportionZTest(ok, { successes: 1, n: Infinity })).toBeNull()
    expect(twoProportionZTest(ok, ok, 1.5)).toBeNull()
  })
})
