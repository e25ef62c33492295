// Breakers shared through the state store: a backend that one instance
// found dead is skipped by the others within a refresh, with no store call
// on their hot path; each decides from its own breaker.
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../../src/state/memory.ts'
import { backendsYaml, fakeClock, fakeFleet, openGateway, routeYaml, testGateway } from '../helpers/fake-fleet.ts'

const yaml = `${openGateway}---\n${backendsYaml(['a', 'b'], { a: '  circuitBreaker: { consecutiveFailures: 2, cooldownSeconds: 30, jitter: none }\n' })}${routeYaml('  defaultBackend: { name: a }\n  fallback: { backends: [b] }\n')}`

describe('shared breakers', () => {
  it('a trip on one instance opens the same backend on another, until the same time', async () => {
    const clock = fakeClock()
    const store = new MemoryStore(clock.now)
    const fa = fakeFleet()
    const fb = fakeFleet()
    fa.set('a', { status: 503 })
    const one = await testGateway(yaml, fa, clock, { store })
    const two = await testGateway(yaml, fb, clock, { store })
    await two.chat() // two has used a: it has a breaker for it, closed
    expect(fb.calls.a).toBe(1)
    for (let i = 0; i < 2; i++) await one.chat()
    await one.chat() // the trip is published after a request
    await one.settle()
    clock.advance(2500) // past the refresh interval
    await two.chat() // pulls the board in the background...
    await two.settle()
    const breaker = two.fleet.breaker(two.config.backends.get('default/a')!).snapshot()
    expect(breaker.state).toBe('open')
    expect(breaker.openUntil).toBe(one.fleet.breaker(one.config.backends.get('default/a')!).snapshot().openUntil)
    // ...and from then on two keeps off a without having seen it fail.
    const before = fb.calls.a
    for (let i = 0; i < 5; i++) expect((await two.chat()).headers.get('x-kortex-backend')).toBe('b')
    expect(fb.calls.a).toBe(before)
    // Past the trip, two probes a itself again.
    clock.advance(30_000)
    expect((await two.chat()).headers.get('x-kortex-backend')).toBe('a')
  })
})
