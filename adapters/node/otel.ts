// OTLP export on Node from the standard OTEL_* environment. With none of its
// endpoints set, the SDK is never imported: no module, no memory, no cost.
import { otlpSettings } from '../otel/settings.ts'
import type { Otel } from '../otel/sdk.ts'

export async function startOtel(env: NodeJS.ProcessEnv, notice: (line: string) => void): Promise<Otel | undefined> {
  const s = otlpSettings((n) => env[n])
  for (const w of s.warnings) notice(`kortex: ${w}`)
  if (!s.traces && !s.metrics) return undefined
  const otel = await (await import('../otel/sdk.ts')).installOtel(s)
  notice(`kortex: OpenTelemetry export on (${[s.traces && `traces ${s.traces}`, s.metrics && `metrics ${s.metrics}`].filter(Boolean).join(', ')})`)
  return otel
}
