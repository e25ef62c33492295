// Sticky assignment: the same subject gets the same variant on every
// instance with no shared state, the split follows the weights, and
// changing weights moves only the users who have to move.
import { describe, expect, it } from 'vitest'
import type { Experiment } from '../../src/config/compile-experiment.ts'
import { assignVariant, enrolled, hash53 } from '../../src/experiments/assign.ts'

const exp = (weights: number[], trafficPercent = 100, name = 'model-comparison'): Experiment => ({
  name,
  namespace: 'default',
  routes: ['r'],
  variants: weights.map((w, i) => ({ name: `v${i}`, backend: `b${i}`, weight: w })),
  trafficPercent,
  subjectHeader: 'x-user-id',
  metrics: [],
  confidence: 0.95,
})

const users = Array.from({ length: 20_000 }, (_, i) => `user-${i}`)

describe('sticky assignment', () => {
  it('is a pure function of (experiment, subject): fixed values, the same on every instance and after restarts', () => {
    // cyrb53's published value: a change to the hash (which would reshuffle every running experiment) fails here.
    expect(hash53('a')).toBe(7929297801672961)
    const e = exp([50, 50])
    const first = users.slice(0, 100).map((u) => assignVariant(e, u)!.name)
    const again = users.slice(0, 100).map((u) => assignVariant(exp([50, 50]), u)!.name)
    expect(again).toEqual(first)
  })

  it('splits subjects by weight (70/30 within ±1.5% over 20,000 users)', () => {
    const e = exp([70, 30])
    const share = users.filter((u) => assignVariant(e, u)!.name === 'v0').length / users.length
    expect(share).toBeGreaterThan(0.685)
    expect(share).toBeLessThan(0.715)
  })

  it('different experiments assign independently', () => {
    const a = exp([50, 50], 100, 'one')
    const b = exp([50, 50], 100, 'two')
    const same = users.filter((u) => assignVariant(a, u)!.name === assignVariant(b, u)!.name).length / users.length
    expect(same).toBeGreaterThan(0.48)
    expect(same).toBeLessThan(0.52)
  })

  it('changing one weight moves as few users as possible: 50/50 → 60/40 moves ~10%, all of them towards v0', () => {
    const before = exp([50, 50])
    const after = exp([60, 40])
    const moved = users.filter((u) => assignVariant(before, u)!.name !== assignVariant(after, u)!.name)
    expect(moved.length / users.length).toBeGreaterThan(0.085)
    expect(moved.length / users.length).toBeLessThan(0.115)
    expect(moved.every((u) => assignVariant(after, u)!.name === 'v0')).toBe(true)
  })

  it('adding a variant takes users only from the others, never swaps them between the old ones', () => {
    const before = exp([50, 50])
    const after = exp([50, 50, 50])
    for (const u of users.slice(0, 5000)) {
      const a = assignVariant(after, u)!.name
      if (a !== 'v2') expect(a).toBe(assignVariant(before, u)!.name)
    }
  })

  it('weight 0 gets nobody; all weights 0 assigns nothing', () => {
    expect(users.some((u) => assignVariant(exp([100, 0]), u)!.name === 'v1')).toBe(false)
    expect(assignVariant(exp([0, 0]), 'x')).toBeUndefined()
  })

  it('enrolment follows trafficPercent, and raising it only adds users', () => {
    const at = (p: number) => new Set(users.filter((u) => enrolled(exp([50, 50], p), u)))
    const ten = at(10)
    const thirty = at(30)
    expect(ten.size / users.length).toBeCloseTo(0.1, 1)
    expect(thirty.size / users.length).toBeCloseTo(0.3, 1)
    for (const u of ten) expect(thirty.has(u)).toBe(true)
    expect(at(0).size).toBe(0)
    expect(at(100).size).toBe(users.length)
  })
})
