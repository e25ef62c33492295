// A request's price from its usage and the backend's prices (per 1,000
// tokens, as the manifests write them). A float is fine for comparing
// experiment variants; billing-grade totals are the limits issue's work.
import type { Backend } from '../config/compile.ts'
import type { Usage } from '../providers/types.ts'

export function requestCost(backend: Backend, usage: Usage | undefined): number | undefined {
  const c = backend.spec.cost
  if (!c) return undefined
  const input = usage?.prompt_tokens ?? 0
  const output = usage?.completion_tokens ?? 0
  return (Number(c.inputTokenCost ?? 0) * input + Number(c.outputTokenCost ?? 0) * output) / 1000 + Number(c.requestCost ?? 0)
}
