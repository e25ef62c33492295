// Budget periods in UTC: the id that names the current one, and its length.
export type Period = 'day' | 'week' | 'month'

import { isoDay } from '../telemetry/iso-time.ts'

const DAY = 86_400_000

/** "2026-11-30", "2026-W48" (ISO week), "2026-11". */
export function periodId(period: Period, now: number): string {
  if (period === 'day') return isoDay(now)
  if (period === 'month') return isoDay(now).slice(0, 7)
  const d = new Date(now)
  // ISO week: the week with the year's first Thursday is week 1.
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()))
  const day = t.getUTCDay() || 7
  t.setUTCDate(t.getUTCDate() + 4 - day)
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1)
  const week = Math.ceil(((t.getTime() - yearStart) / DAY + 1) / 7)
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, '0')}`
}

/** How long a period's counter must live: its longest length and a day to spare. */
export const periodTtlSeconds = (period: Period) => ({ day: 2, week: 8, month: 32 })[period] * 86_400
