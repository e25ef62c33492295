// Budget alerts as the budget's owner receives them: a webhook gets exactly
// the thresholds that settled spend has crossed — never one for money that is
// only reserved by a request still in flight — and a request refused for the
// budget sends the 100% alert once, however many are refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryStore } from '../../src/state/memory.ts'
import { backendsYaml, fakeClock, fakeFleet, testGateway } from '../helpers/fake-fleet.ts'
import { readJson, startServer, type TestServer } from '../helpers/server.ts'

let hooks: TestServer
let received: any[] = []
beforeAll(async () => {
  hooks = await startServer(async (req, res) => {
    received.push(await readJson(req))
    res.writeHead(204).end()
  })
})
afterAll(() => hooks.close())

// One answer costs 9 × 0.00001 + 12 × 0.00003 = 0.00045, 4.5% of the budget.
const yaml = () => `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec:
  accessLog: false
  auth: { keys: [{ name: web-app, key: kx-web-app-0001, team: web }] }
  limits: { defaultMaxTokens: 16 }   # a budget must hold one request's worst case
  budgets:
    - { scope: team, name: web, amount: "0.01", period: day, alertAt: [50, 80, 100], webhook: "${hooks.url}/budget" }
---
${backendsYaml(['a'], { a: '  cost: { inputTokenCost: "0.01", outputTokenCost: "0.03" }\n' })}---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: chat }
spec:
  defaultBackend: { name: a }
`

async function setup() {
  received = []
  const clock = fakeClock(Date.parse('2026-11-30T12:00:00Z'))
  const fleet = fakeFleet()
  // The first `held` upstream calls wait until released: requests in flight, their reservations held.
  let held = 0
  let release!: () => void
  let arrived!: () => void
  const released = new Promise<void>((r) => (release = r))
  const reached = new Promise<void>((r) => (arrived = r))
  const gw = await testGateway(yaml(), fleet, clock, {
    store: new MemoryStore(clock.now),
    fetch: async (input, init) => {
      if (String(input).startsWith(hooks.url)) return fetch(input, init)
      if (held-- > 0) {
        arrived()
        await released
      }
      return fleet.fetch(input, init)
    },
  })
  const ask = (maxTokens = 12) => gw.chat({ authorization: 'Bearer kx-web-app-0001' }, { max_tokens: maxTokens })
  return { gw, ask, hold: (n: number) => (held = n), reached, release }
}

describe('budget alerts', () => {
  it('follow settled spend: a large request in flight does not set off thresholds for money not spent', async () => {
    const { gw, ask, hold, reached, release } = await setup()
    hold(1)
    // Reserves 9 × 0.00001 + 200 × 0.00003 = 0.00609 (61%) while it waits upstream.
    const big = ask(200)
    await reached
    expect((await ask()).status).toBe(200)
    await gw.settle()
    expect(received).toEqual([]) // 4.5% spent
    release()
    expect((await big).status).toBe(200)
    await gw.settle()
    expect(received).toEqual([]) // 9% spent
  })

  it('send each threshold once, as spend crosses it, and the 100% alert once when requests are refused', async () => {
    const { gw, ask } = await setup()
    const thresholds = () => received.map((a) => a.threshold)
    let spent = 0
    for (;;) {
      const r = await ask()
      await gw.settle()
      if (r.status === 402) break
      expect(r.status).toBe(200)
      spent += 4.5
      expect(thresholds(), `at ${spent}% spent`).toEqual([50, 80].filter((t) => spent >= t))
    }
    expect(spent).toBe(99)
    expect(thresholds()).toEqual([50, 80, 100])
    expect(received[0]).toMatchObject({ type: 'budget.threshold', budget: "team 'web'", threshold: 50, spent: '0.0054', amount: '0.01', currency: 'USD', period: 'day' })
    expect(received[2]).toMatchObject({ threshold: 100, spent: '0.0099', refused: true })
    for (let i = 0; i < 5; i++) expect((await ask()).status).toBe(402)
    await gw.settle()
    expect(thresholds()).toEqual([50, 80, 100])
  })
})
