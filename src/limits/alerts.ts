// Budget alerts: once a budget's spend crosses one of its thresholds, one
// alert per threshold per period — to the log always, and to the budget's
// webhook when it has one. "Once" holds across replicas: the first to mark
// the threshold in the StateStore sends it.
import type { Budget } from '../config/schema.ts'
import type { FetchLike } from '../providers/types.ts'
import type { StateStore } from '../state/store.ts'
import type { Logger } from '../telemetry/log.ts'
import { formatNano, parseNano } from '../usage/cost.ts'

export interface BudgetSpend {
  budget: Budget
  key: string
  label: string
  ttlSeconds: number
}

export async function checkAlerts(store: StateStore, spends: BudgetSpend[], fetch: FetchLike, log: Logger, now: number): Promise<void> {
  if (!spends.length) return
  const totals = await store.counters(spends.map((s) => s.key))
  await Promise.all(
    spends.map(async (s, i) => {
      const limit = parseNano(s.budget.amount)
      const spent = totals[i]!
      for (const pct of [...s.budget.alertAt].sort((a, b) => a - b)) {
        if (spent < (limit * pct) / 100) break
        const mark = crypto.randomUUID()
        if ((await store.put(`alert:${s.key}:${pct}`, mark, { ttlSeconds: s.ttlSeconds, ifAbsent: true })) !== mark) continue
        const alert = {
          type: 'budget.threshold',
          time: new Date(now).toISOString(),
          budget: s.label,
          scope: s.budget.scope,
          period: s.budget.period,
          threshold: pct,
          amount: s.budget.amount,
          spent: formatNano(spent),
          currency: s.budget.currency,
        }
        log.warn(`kortex: budget for ${s.label} reached ${pct}%`, alert)
        if (s.budget.webhook) {
          const res = await fetch(s.budget.webhook, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alert), signal: AbortSignal.timeout(10_000) }).catch((e: unknown) => e)
          if (!(res instanceof Response) || !res.ok) log.warn('kortex: budget alert webhook failed', { budget: s.label, threshold: pct })
          else await res.body?.cancel()
        }
      }
    }),
  )
}
