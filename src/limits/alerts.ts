// Budget alerts: once a budget's settled spend crosses one of its thresholds,
// one alert per threshold per period — to the log always, and to the
// budget's webhook when it has one. "Once" holds across replicas: the first
// to mark the threshold in the StateStore sends it.
//
// Spend is what requests really cost once settled, kept on its own counter:
// the budget's admission counter also holds the worst-case reservations of
// requests still in flight, and alerting on it cried wolf.
import type { Budget } from '../config/schema.ts'
import type { FetchLike } from '../providers/types.ts'
import type { StateStore } from '../state/store.ts'
import type { Logger } from '../telemetry/log.ts'
import { formatNano, parseNano } from '../usage/cost.ts'

export interface BudgetSpend {
  budget: Budget
  /** The budget's admission counter for this period. */
  key: string
  label: string
  ttlSeconds: number
}

/** The counter of settled spend beside a budget's admission counter. */
export const spentKey = (budgetKey: string) => `${budgetKey}:spent`

// Marks this instance knows are taken: a settled request or a refusal storm past a
// threshold costs no store round trip per request. Per store (tests share a process).
const MARKS_MAX = 10_000
const known = new WeakMap<StateStore, Set<string>>()

/** Alerts for every threshold the settled spend has crossed and nobody has sent yet. */
export async function checkAlerts(store: StateStore, spends: BudgetSpend[], fetch: FetchLike, log: Logger, now: number): Promise<void> {
  if (!spends.length) return
  const totals = await store.counters(spends.map((s) => spentKey(s.key)))
  await Promise.all(
    spends.map(async (s, i) => {
      const limit = parseNano(s.budget.amount)
      const spent = totals[i]!
      for (const pct of [...s.budget.alertAt].sort((a, b) => a - b)) {
        if (spent < (limit * pct) / 100) break
        await alertOnce(store, s, pct, spent, fetch, log, now)
      }
    }),
  )
}

/**
 * A request refused for this budget: for its owner the budget is used up, so
 * its 100% alert goes out (once per period, like any threshold) even though
 * settled spend stops short of the amount.
 */
export async function alertRefusal(store: StateStore, s: BudgetSpend, fetch: FetchLike, log: Logger, now: number): Promise<void> {
  if (!s.budget.alertAt.includes(100) || marks(store).has(markOf(s, 100))) return
  await alertOnce(store, s, 100, async () => (await store.counters([spentKey(s.key)]))[0]!, fetch, log, now, true)
}

const markOf = (s: BudgetSpend, pct: number) => `alert:${s.key}:${pct}`

function marks(store: StateStore): Set<string> {
  let m = known.get(store)
  if (!m) known.set(store, (m = new Set()))
  else if (m.size >= MARKS_MAX) m.clear()
  return m
}

async function alertOnce(store: StateStore, s: BudgetSpend, pct: number, spent: number | (() => Promise<number>), fetch: FetchLike, log: Logger, now: number, refused?: true): Promise<void> {
  const key = markOf(s, pct)
  const seen = marks(store)
  if (seen.has(key)) return
  const mark = crypto.randomUUID()
  const won = (await store.put(key, mark, { ttlSeconds: s.ttlSeconds, ifAbsent: true })) === mark
  seen.add(key)
  if (!won) return
  const alert = {
    type: 'budget.threshold',
    time: new Date(now).toISOString(),
    budget: s.label,
    scope: s.budget.scope,
    period: s.budget.period,
    threshold: pct,
    amount: s.budget.amount,
    spent: formatNano(typeof spent === 'number' ? spent : await spent()),
    currency: s.budget.currency,
    ...(refused && { refused: true }),
  }
  log.warn(`kortex: budget for ${s.label} reached ${pct}%${refused ? ' (a request was refused)' : ''}`, alert)
  if (!s.budget.webhook) return
  const res = await fetch(s.budget.webhook, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alert), signal: AbortSignal.timeout(10_000) }).catch((e: unknown) => e)
  if (!(res instanceof Response) || !res.ok) log.warn('kortex: budget alert webhook failed', { budget: s.label, threshold: pct })
  else await res.body?.cancel()
}
