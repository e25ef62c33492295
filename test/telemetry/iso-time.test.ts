// Record timestamps: the same text as Date.toISOString, though the part up to
// the second is reused within a second.
import { describe, expect, it } from 'vitest'
import { isoDay, isoTime } from '../../src/telemetry/iso-time.ts'

describe('isoTime', () => {
  it('writes what toISOString writes, across seconds, days and years, in and out of order', () => {
    const times = [0, 1, 999, 1000, 1001, -1, -999, -1000, -1001, Date.UTC(2026, 10, 30, 23, 59, 59, 999), Date.UTC(2026, 11, 1), 253402300799999, 253402300800000, -62167219200001]
    let x = 7
    for (let i = 0; i < 5000; i++) {
      x = (x * 48271) % 2147483647
      const t = Date.UTC(2026, 0, 1) + (x % (400 * 86_400_000))
      times.push(t, t + 1, t + 1000) // the next one shares the second, the one after does not
    }
    for (const t of times) expect(isoTime(t), String(t)).toBe(new Date(t).toISOString())
  })

  it('isoDay is the date part', () => {
    expect(isoDay(Date.UTC(2026, 10, 30, 23, 59, 59, 999))).toBe('2026-11-30')
    expect(isoDay(Date.UTC(2026, 11, 1))).toBe('2026-12-01')
  })
})
