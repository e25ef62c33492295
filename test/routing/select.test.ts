// Picking among a rule's backends: weighted splits hold over many draws,
// and the strategies read the fleet's live state as documented.
import { describe, expect, it } from 'vitest'
import { buildConfig } from '../../src/config/source.ts'
import { Fleet } from '../../src/resilience/fleet.ts'
import { EXPLORE, select, type Candidate } from '../../src/routing/select.ts'
import { backendsYaml, openGateway } from '../helpers/fake-fleet.ts'
import { seeded } from '../helpers/seeded.ts'

async function candidates(extra: Record<string, string> = {}, weights: Record<string, number> = { a: 1, b: 1, c: 1 }): Promise<Candidate[]> {
  const route = `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r }
spec: { defaultBackend: { name: a } }
`
  const c = await buildConfig(`${openGateway}---\n${backendsYaml(['a', 'b', 'c'], extra)}${route}`, () => undefined)
  return Object.entries(weights).map(([name, weight]) => ({ name, weight, backend: c.backends.get(`default/${name}`)! }))
}

function shares(pick: () => string | undefined, n: number) {
  const counts: Record<string, number> = {}
  for (let i = 0; i < n; i++) {
    const k = pick() ?? 'none'
    counts[k] = (counts[k] ?? 0) + 1
  }
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / n]))
}

describe('weighted', () => {
  it('80/20 is 80/20 over many requests (±1.5% at 20,000 draws; 4σ is ±1.1%)', async () => {
    const cs = await candidates({}, { a: 80, b: 20 })
    const random = seeded(42)
    const s = shares(() => select('weighted', cs, { fleet: new Fleet(), random })?.name, 20_000)
    expect(s.a).toBeGreaterThan(0.785)
    expect(s.a).toBeLessThan(0.815)
  })

  it('weight 0 drains, whatever the strategy', async () => {
    const cs = await candidates({}, { a: 0, b: 100, c: 0 })
    const random = seeded(1)
    for (const strategy of ['weighted', 'cost', 'latency', 'least-busy'] as const) {
      const s = shares(() => select(strategy, cs, { fleet: new Fleet(), random })?.name, 500)
      expect(s).toEqual({ b: 1 })
    }
  })
})

describe('strategies', () => {
  it('least-busy: the backend with the fewest requests in flight', async () => {
    const cs = await candidates()
    const fleet = new Fleet()
    fleet.live(cs[0]!.backend).inflight = 3
    fleet.live(cs[1]!.backend).inflight = 1
    fleet.live(cs[2]!.backend).inflight = 2
    expect(select('least-busy', cs, { fleet, random: Math.random })?.name).toBe('b')
  })

  it('cost: the cheapest backend whose context window fits the prompt and the answer', async () => {
    const cs = await candidates({
      a: '  cost: { inputTokenCost: "0.01", outputTokenCost: "0.03" }\n  contextWindow: 128000\n',
      b: '  cost: { inputTokenCost: "0.0005", outputTokenCost: "0.0015" }\n  contextWindow: 4096\n',
      c: '  cost: { inputTokenCost: "0.003", outputTokenCost: "0.015" }\n  contextWindow: 200000\n',
    })
    const pick = (prompt: number, out?: number) => select('cost', cs, { fleet: new Fleet(), random: Math.random, promptTokens: () => prompt, maxOutputTokens: out })?.name
    expect(pick(1000)).toBe('b')
    expect(pick(3000, 2000)).toBe('c') // b's 4096 cannot hold 5000
    expect(pick(150_000)).toBe('c') // only c's window fits
  })

  it('latency: an untried backend first, then the lowest moving average, exploring now and then', async () => {
    const cs = await candidates()
    const fleet = new Fleet()
    const answer = (i: number, ms: number) => {
      const l = fleet.start(cs[i]!.backend)!
      l.answered(ms)
      l.end('success')
    }
    answer(0, 300)
    answer(1, 100)
    // c has never answered: it is tried before anything is ranked.
    expect(select('latency', cs, { fleet, random: () => 0.5 })?.name).toBe('c')
    answer(2, 900)
    const random = seeded(7)
    const s = shares(() => select('latency', cs, { fleet, random })?.name, 10_000)
    // Exploitation picks b; exploration (EXPLORE) spreads over all three.
    expect(s.b).toBeCloseTo(1 - EXPLORE + EXPLORE / 3, 1)
    expect(s.c).toBeGreaterThan(0.02) // a slow backend still gets looked at, so its recovery is seen
    // b slows down: the average moves and a takes over.
    for (let i = 0; i < 10; i++) answer(1, 1000)
    expect(select('latency', cs, { fleet, random: () => 0.5 })?.name).toBe('a')
  })
})
