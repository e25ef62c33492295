// An experiment's duration as its owner and its users meet it: once the
// time is up nobody is enrolled any more — a new user gets the route's
// usual backend with no variant label, a user who was in the treatment is
// back on it too — and the report's figures stop growing, on every replica.
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../../src/state/memory.ts'
import { backendsYaml, fakeClock, fakeFleet, openGateway, testGateway, type TestGateway } from '../helpers/fake-fleet.ts'

const yaml = (extra = '') => `${openGateway}---
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
  duration: 1h
${extra}`

const report = async (gw: TestGateway) => (await (await gw.call('/v1/experiments/model-comparison')).json()) as any
const counted = (r: any) => r.variants.reduce((n: number, v: any) => n + v.requests, 0)

describe('an experiment whose duration has passed', () => {
  it('enrols no one, new or seen before, and its report stops counting', async () => {
    const clock = fakeClock(Date.parse('2026-12-01T09:00:00Z'))
    const store = new MemoryStore(clock.now)
    const fleet = fakeFleet()
    const gw = await testGateway(yaml(), fleet, clock, { store })
    const variantOf: Record<string, string> = {}
    for (let i = 0; i < 20; i++) {
      const res = await gw.chat({ 'x-user-id': `u${i}` })
      variantOf[`u${i}`] = res.headers.get('x-kortex-variant')!
    }
    expect(Object.values(variantOf)).toContain('treatment')
    await gw.settle()
    expect(await report(gw)).toMatchObject({ start: '2026-12-01T09:00:00.000Z', durationReached: false })

    clock.advance(3_600_000)
    const treated = Object.keys(variantOf).find((u) => variantOf[u] === 'treatment')!
    for (const user of ['new-1', 'new-2', 'new-3', treated]) {
      const res = await gw.chat({ 'x-user-id': user })
      expect(res.status).toBe(200)
      expect(res.headers.get('x-kortex-experiment')).toBeNull()
      expect(res.headers.get('x-kortex-variant')).toBeNull()
      expect(res.headers.get('x-kortex-backend')).toBe('gpt-4')
    }
    await gw.settle()
    const after = await report(gw)
    expect(after).toMatchObject({ durationReached: true })
    expect(counted(after)).toBe(20)

    // A replica started after the end learns the start from the shared store and enrols no one either.
    const late = await testGateway(yaml(), fakeFleet(), clock, { store })
    const res = await late.chat({ 'x-user-id': 'new-4' })
    expect(res.headers.get('x-kortex-variant')).toBeNull()
    await late.settle()
    expect(counted(await report(late))).toBe(20)
  })

  it('with a start in the config: enrols from the start until start + duration', async () => {
    const clock = fakeClock(Date.parse('2026-12-01T09:30:00Z'))
    const gw = await testGateway(yaml('  start: "2026-12-01T09:00:00Z"\n'), fakeFleet(), clock)
    expect((await gw.chat({ 'x-user-id': 'u1' })).headers.get('x-kortex-experiment')).toBe('model-comparison')
    clock.advance(30 * 60_000)
    expect((await gw.chat({ 'x-user-id': 'u2' })).headers.get('x-kortex-experiment')).toBeNull()
    await gw.settle()
    expect(counted(await report(gw))).toBe(1)
  })
})
