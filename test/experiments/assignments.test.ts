// The in-memory record of which variant served a request, for /v1/feedback:
// found while kept, gone once expired or pushed out by newer ones.
import { describe, expect, it } from 'vitest'
import { AssignmentRing } from '../../src/experiments/assignments.ts'

describe('AssignmentRing', () => {
  it('finds exactly the newest `capacity` requests, through many wraps (checked against a plain model)', () => {
    const capacity = 50
    const ring = new AssignmentRing(capacity)
    const model: Array<[string, [string, string]]> = []
    for (let i = 0; i < 5000; i++) {
      const id = `req-${i}-${(i * 7919) % 104729}`
      const pair: [string, string] = [`ns/exp-${i % 3}`, i % 2 ? 'treatment' : 'control']
      ring.add(id, pair[0], pair[1], Infinity)
      model.push([id, pair])
      if (model.length > capacity) model.shift()
      if (i % 97 === 0 || i > 4900) {
        for (const [kept, p] of model) expect(ring.get(kept, 0), kept).toEqual(p)
        // Pushed out: the ones just before the window.
        for (let j = Math.max(0, i - capacity - 20); j <= i - capacity; j++) expect(ring.get(`req-${j}-${(j * 7919) % 104729}`, 0)).toBeUndefined()
      }
    }
    expect(ring.get('never-seen', 0)).toBeUndefined()
  })

  it('forgets a request after its expiry, and a request id seen again takes the latest variant', () => {
    const ring = new AssignmentRing(10)
    ring.add('a', 'ns/e', 'control', 1000)
    expect(ring.get('a', 999)).toEqual(['ns/e', 'control'])
    expect(ring.get('a', 1000)).toBeUndefined()
    ring.add('b', 'ns/e', 'control', 5000)
    ring.add('b', 'ns/e', 'treatment', 5000)
    expect(ring.get('b', 0)).toEqual(['ns/e', 'treatment'])
  })
})
