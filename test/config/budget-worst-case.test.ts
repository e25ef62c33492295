// A budget smaller than what one request reserves (defaultMaxTokens of output at the
// priciest backend) would answer every request without max_tokens with a 402. The
// operator hears it when the config loads, with the figures and the fix.
import { describe, expect, it } from 'vitest'
import { buildConfig } from '../../src/config/source.ts'
import { ConfigError } from '../../src/config/load.ts'

const config = (budget: string, limits = '') => `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: gateway }
spec:
  auth: { open: true }${limits}
  budgets:
    - ${budget}
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: cheap }
spec: { type: demo, cost: { inputTokenCost: "0.0001", outputTokenCost: "0.001" } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: gpt }
spec: { type: demo, cost: { inputTokenCost: "0.0025", outputTokenCost: "0.01" } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: chat }
spec: { models: [gpt-4o], defaultBackend: { name: cheap }, fallback: { backends: [gpt] } }
`

const problems = async (yaml: string) => {
  try {
    await buildConfig(yaml, () => undefined)
    return undefined
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return (err as ConfigError).message
  }
}

describe('a budget smaller than one request', () => {
  it('is refused at load, naming the budget, its amount, the worst case and the fix', async () => {
    // 1024 output tokens (the default defaultMaxTokens) at the fallback's 0.01 per 1,000: 0.01024.
    const msg = await problems(config('{ scope: team, name: web, amount: "0.01", period: day }'))
    expect(msg).toContain('spec.budgets[0].amount')
    expect(msg).toContain("the budget of team 'web' (0.01 USD a day) is smaller than one request's worst case, 0.01024 USD")
    expect(msg).toContain('1024 output tokens (limits.defaultMaxTokens')
    expect(msg).toContain('backend "gpt" of route "chat"')
    expect(msg).toMatch(/Raise the budget .* or lower limits\.defaultMaxTokens \(and have clients set max_tokens\)/)
  })

  it('per-user budgets too', async () => {
    expect(await problems(config('{ scope: user, amount: "0.001", period: day }'))).toContain('the budget of every user (0.001 USD a day)')
  })

  it('loads once the budget is raised or defaultMaxTokens lowered', async () => {
    expect(await problems(config('{ scope: team, name: web, amount: "5", period: day }'))).toBeUndefined()
    expect(await problems(config('{ scope: team, name: web, amount: "0.01", period: day }', '\n  limits: { defaultMaxTokens: 256 }'))).toBeUndefined()
  })
})
