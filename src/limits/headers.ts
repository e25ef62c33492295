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

const NAMES = {
  requests: ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests'],
  tokens: ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens'],
} as const

function put(h: Record<string, string>, names: readonly [string, string, string], t: RateState | undefined): void {
  if (!t) return
  h[names[0]] = String(t.limit)
  h[names[1]] = String(t.remaining)
  h[names[2]] = formatReset(t.resetMs)
}

export function rateLimitHeaders(requests: RateState[], tokens: RateState[]): Record<string, string> {
  const h: Record<string, string> = {}
  put(h, NAMES.requests, tightest(requests))
  put(h, NAMES.tokens, tightest(tokens))
  return h
}
