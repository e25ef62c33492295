// OpenAI's rate-limit headers: x-ratelimit-{limit,remaining,reset}-{requests,tokens},
// resets written as OpenAI writes them ("1s", "6m0s", "20ms").
import type { RateState } from '../state/store.ts'

export function formatReset(ms: number): string {
  if (!Number.isFinite(ms)) return '0s'
  if (ms < 1000) return `${Math.ceil(ms)}ms`
  let s = Math.ceil(ms / 1000)
  const h = Math.floor(s / 3600)
  s -= h * 3600
  const m = Math.floor(s / 60)
  s -= m * 60
  return h ? `${h}h${m}m${s}s` : m ? `${m}m${s}s` : `${s}s`
}

/** The tightest of several limits of one unit: the least remaining. */
function tightest(states: RateState[]): RateState | undefined {
  let best: RateState | undefined
  for (const s of states) if (!best || s.remaining / s.limit < best.remaining / best.limit) best = s
  return best
}

export function rateLimitHeaders(requests: RateState[], tokens: RateState[]): Record<string, string> {
  const h: Record<string, string> = {}
  for (const [unit, states] of [['requests', requests], ['tokens', tokens]] as const) {
    const t = tightest(states)
    if (!t) continue
    h[`x-ratelimit-limit-${unit}`] = String(t.limit)
    h[`x-ratelimit-remaining-${unit}`] = String(t.remaining)
    h[`x-ratelimit-reset-${unit}`] = formatReset(t.resetMs)
  }
  return h
}
