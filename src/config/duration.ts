// Durations as the manifests write them: "30s", "500ms", "5m", "7d", or a
// plain number of seconds.
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

export function durationMs(v: number | string): number {
  if (typeof v === 'number') return v * 1000
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(v)
  if (!m) throw new Error(`not a duration: ${v}`)
  return Number(m[1]) * UNIT_MS[m[2]!]!
}
