// An A/B experiment as its owner lives it: traffic split by user and
// labelled, feedback posted by the application, and a report whose
// figures and statistics follow from what was sent.
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../../src/state/memory.ts'
import { backendsYaml, fakeClock, fakeFleet, openGateway, testGateway } from '../helpers/fake-fleet.ts'

const yaml = `${openGateway}---
${backendsYaml(['gpt-4', 'claude-3'])}---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: chat }
spec:
  defaultBackend: { name: gpt-4 }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceExperiment
metadata: { name: model-comparison }
spec:
  variants:
    - { name: control, backend: gpt-4, weight: 50 }
    - { name: treatment, backend: claude-3, weight: 50 }
  metrics: [latencyP99, costPerRequest, userSatisfaction]
  duration: 7d
  minimumSampleSize: 100
`

const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

describe('an experiment end to end', () => {
  it("gathers a window's aggregates and writes them once per variant: before a report reads them, and on flush()", async () => {
    const store = new MemoryStore()
    const writes: string[] = []
    const counted = new Proxy(store, {
      get: (t, k) => (k === 'addFields' ? (key: string, ...rest: [Record<string, number>, number?]) => (writes.push(key), t.addFields(key, ...rest)) : typeof (t as any)[k] === 'function' ? (t as any)[k].bind(t) : (t as any)[k]),
    })
    const fleet = fakeFleet()
    // A window far longer than the test: only the report and flush() write.
    const gw = await testGateway(yaml, fleet, fakeClock(), { store: counted, aggregatesFlushMs: 60_000 })
    for (let i = 0; i < 40; i++) expect((await gw.chat({ 'x-user-id': `user-${i}` })).status).toBe(200)
    const variantWrites = () => writes.filter((k) => k.includes(':v:'))
    expect(variantWrites()).toEqual([])
    const report = (await (await gw.call('/v1/experiments/model-comparison')).json()) as any
    expect(report.variants.map((v: any) => v.requests)).toEqual([fleet.calls['gpt-4'], fleet.calls['claude-3']])
    expect(report.variants[0].requests + report.variants[1].requests).toBe(40)
    expect(variantWrites().sort()).toEqual(['exp:default/model-comparison:v:control', 'exp:default/model-comparison:v:treatment'])
    await gw.chat({ 'x-user-id': 'user-1' })
    await gw.flush()
    expect(variantWrites()).toHaveLength(3)
  })

  it('splits by user, labels responses, takes feedback, and reports the difference with its statistics', async () => {
    const fleet = fakeFleet()
    const store = new MemoryStore()
    const clock = fakeClock()
    const gw = await testGateway(yaml, fleet, clock, { store })
    const otherFleet = fakeFleet()
    const other = await testGateway(yaml, otherFleet, clock, { store }) // a second replica sharing the store

    const served: Record<string, string> = {}
    const sent: Record<string, number[]> = { control: [], treatment: [] }
    for (let i = 0; i < 400; i++) {
      const user = `user-${i % 200}`
      const res = await (i % 2 ? other : gw).chat({ 'x-user-id': user })
      expect(res.status).toBe(200)
      const variant = res.headers.get('x-kortex-variant')!
      expect(res.headers.get('x-kortex-experiment')).toBe('model-comparison')
      expect(res.headers.get('x-kortex-backend')).toBe(variant === 'control' ? 'gpt-4' : 'claude-3')
      // Sticky: the same user sees the same variant on both replicas.
      if (served[user]) expect(variant).toBe(served[user])
      served[user] = variant
      // The application rates the answer: claude-3 answers please users more (5 vs 3, with some spread).
      const score = (variant === 'treatment' ? 5 : 3) + ((i % 5) - 2) * 0.5
      sent[variant]!.push(score)
      const fb = await gw.call('/v1/feedback', json({ request_id: res.headers.get('x-request-id'), metric: 'userSatisfaction', value: score }))
      expect(fb.status).toBe(200)
    }
    await gw.settle()
    await other.settle()

    const report = (await (await gw.call('/v1/experiments/model-comparison')).json()) as any
    const [control, treatment] = report.variants
    expect(control.requests + treatment.requests).toBe(400)
    // Both replicas' requests are pooled.
    expect(control.requests).toBe(fleet.calls['gpt-4']! + otherFleet.calls['gpt-4']!)
    expect(treatment.requests).toBe(fleet.calls['claude-3']! + otherFleet.calls['claude-3']!)
    expect(treatment.requests).toBeGreaterThan(120)
    expect(control.errors).toBe(0)
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
    expect(control.metrics.userSatisfaction.n).toBe(sent.control!.length)
    expect(control.metrics.userSatisfaction.mean).toBeCloseTo(mean(sent.control!), 4)
    expect(treatment.metrics.userSatisfaction.mean).toBeCloseTo(mean(sent.treatment!), 4)
    expect(report.sampleSizeReached).toBe(true)
    expect(report.durationReached).toBe(false)
    expect(report.complete).toBe(false)
    const cmp = report.comparisons[0]
    expect(cmp).toMatchObject({ variant: 'treatment', against: 'control' })
    expect(cmp.metrics.userSatisfaction.diff).toBeCloseTo(mean(sent.treatment!) - mean(sent.control!), 4)
    expect(cmp.metrics.userSatisfaction.significant).toBe(true)
    expect(cmp.metrics.userSatisfaction.pValue).toBeLessThan(1e-6)
    expect(cmp.metrics.userSatisfaction.ci[0]).toBeLessThan(2)
    expect(cmp.metrics.userSatisfaction.ci[1]).toBeGreaterThan(2)
    // Tokens come from the upstream's usage (9 in, 12 out per answer).
    expect(control.inputTokens.mean).toBe(9)
    expect(treatment.outputTokens.mean).toBe(12)
    expect(control.latencyMs.n).toBe(control.requests)

    // A week later the duration is reached too.
    clock.advance(7 * 86_400_000)
    const later = (await (await gw.call('/v1/experiments/model-comparison')).json()) as any
    expect(later).toMatchObject({ durationReached: true, complete: true })
  })

  it('counts failures against the variant whose backend failed, even when failover saved the request', async () => {
    const fleet = fakeFleet()
    fleet.set('claude-3', (n) => (n % 4 === 0 ? { status: 503 } : 'ok'))
    const gw = await testGateway(yaml, fleet)
    let treatmentRequests = 0
    for (let i = 0; i < 300; i++) {
      const res = await gw.chat({ 'x-user-id': `u${i}` })
      expect(res.status).toBe(200) // gpt-4 is in the chain: the client never sees the failures
      if (res.headers.get('x-kortex-variant') === 'treatment') treatmentRequests++
    }
    await gw.settle()
    const report = (await (await gw.call('/v1/experiments/model-comparison')).json()) as any
    const [control, treatment] = report.variants
    expect(treatment.requests).toBe(treatmentRequests)
    expect(treatment.errors).toBe(Math.floor(fleet.calls['claude-3']! / 4))
    expect(control.errors).toBe(0)
    const rate = report.comparisons[0].errorRate
    expect(rate.diff).toBeCloseTo(treatment.errors / treatment.requests, 6)
    expect(rate.significant).toBe(true)
  })

  it('feedback: unknown request 404, a second value for the same metric 409, bad input 400', async () => {
    const gw = await testGateway(yaml, fakeFleet())
    const res = await gw.chat({ 'x-user-id': 'someone' })
    await gw.settle()
    const id = res.headers.get('x-request-id')
    expect((await gw.call('/v1/feedback', json({ request_id: 'nope', metric: 'm', value: 1 }))).status).toBe(404)
    expect((await gw.call('/v1/feedback', json({ request_id: id, metric: 'thumbsUp', value: true }))).status).toBe(200)
    const again = await gw.call('/v1/feedback', json({ request_id: id, metric: 'thumbsUp', value: false }))
    expect(again.status).toBe(409)
    expect(((await again.json()) as any).error.code).toBe('feedback_already_recorded')
    const bad = await gw.call('/v1/feedback', json({ request_id: id, metric: 'thumbsUp', value: 'yes' }))
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as any).error.param).toBe('value')
    expect((await gw.call('/v1/experiments/nope')).status).toBe(404)
  })

  it('an inline route experiment at 0% leaves routing as it was; at 30% about 30% of users get the treatment', async () => {
    const inline = (p: number) => `${openGateway}---
${backendsYaml(['a', 'b'])}---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r }
spec:
  defaultBackend: { name: a }
  experiments: [{ name: try-b, control: a, treatment: b, trafficPercent: ${p} }]
`
    const count = async (p: number) => {
      const fleet = fakeFleet()
      const gw = await testGateway(inline(p), fleet)
      for (let i = 0; i < 1000; i++) await gw.chat({ 'x-user-id': `u${i}` })
      return fleet.calls.b ?? 0
    }
    expect(await count(0)).toBe(0)
    const b = await count(30)
    expect(b).toBeGreaterThan(260)
    expect(b).toBeLessThan(340)
  })

  it('streams count their time to first token; an experiment whose start is ahead enrols nobody yet', async () => {
    const clock = fakeClock(Date.parse('2026-12-01T00:00:00Z'))
    const later = yaml.replace('  duration: 7d', '  duration: 7d\n  start: "2026-12-02T00:00:00Z"')
    const fleet = fakeFleet()
    const gw = await testGateway(later, fleet, clock)
    const before = await gw.chat({ 'x-user-id': 'u1' })
    expect(before.headers.get('x-kortex-experiment')).toBeNull()
    expect(before.headers.get('x-kortex-backend')).toBe('gpt-4')
    clock.advance(86_400_000)
    for (let i = 0; i < 20; i++) {
      const res = await gw.chat({ 'x-user-id': `u${i}` }, { stream: true })
      expect(res.headers.get('x-kortex-experiment')).toBe('model-comparison')
      expect(await res.text()).toContain('data: [DONE]')
    }
    await gw.settle()
    const report = (await (await gw.call('/v1/experiments/model-comparison')).json()) as any
    expect(report.start).toBe('2026-12-02T00:00:00.000Z')
    const n = report.variants.map((v: any) => v.ttftMs.n)
    expect(n[0] + n[1]).toBe(20)
    expect(report.variants[0].ttftMs.p50).not.toBeNull()
  })
})
