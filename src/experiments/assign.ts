// Sticky assignment with no per-user state: every instance computes the
// same variant from a hash of (experiment, subject). Weighted rendezvous
// hashing picks the variant, so changing one variant's weight moves only
// the users who must move; enrolment compares another hash with the
// traffic percent, so raising the percent only adds users.
import type { Experiment, Variant } from '../config/compile-experiment.ts'

/** cyrb53: a fast 53-bit string hash, the same on every runtime. */
export function hash53(s: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed
  let h2 = 0x41c6ce57 ^ seed
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 2654435761)
    h2 = Math.imul(h2 ^ c, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return 4294967296 * (2097151 & h2) + (h1 >>> 0)
}

/** A point in (0, 1), uniform over subjects. */
const unit = (s: string) => (hash53(s) + 0.5) / 2 ** 53

export function enrolled(exp: Experiment, subject: string): boolean {
  if (exp.trafficPercent >= 100) return true
  return unit(`${exp.namespace}/${exp.name}\u0000${subject}\u0000enrol`) * 100 < exp.trafficPercent
}

/** The subject's variant; undefined only when every weight is 0. */
export function assignVariant(exp: Experiment, subject: string): Variant | undefined {
  let best: Variant | undefined
  let bestScore = -Infinity
  for (const v of exp.variants) {
    if (v.weight <= 0) continue
    // -w / ln(u): the largest wins with probability w / Σw.
    const score = -v.weight / Math.log(unit(`${exp.namespace}/${exp.name}\u0000${subject}\u0000${v.name}`))
    if (score > bestScore) {
      bestScore = score
      best = v
    }
  }
  return best
}
