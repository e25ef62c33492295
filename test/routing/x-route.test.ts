// X-Route names a route, but never widens what a caller may do: a key
// restricted to some models reaches only routes that serve the model it
// asks for, and the limits of the route a model has hold whichever route
// the client names.
import { describe, expect, it } from 'vitest'
import { backendsYaml, fakeFleet, keyedGateway, openGateway, testGateway } from '../helpers/fake-fleet.ts'

const route = (name: string, spec: string) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: ${name} }
spec:
${spec}`

const json = async (r: Response) => ({ status: r.status, route: r.headers.get('x-kortex-route'), error: r.ok ? undefined : ((await r.json()) as any).error })

describe('X-Route and a key restricted to some models', () => {
  const yaml =
    keyedGateway(['{ name: split-only, key: kx-split-only-01, models: [split] }', '{ name: anything, key: kx-anything-0001 }']) +
    `---\n${backendsYaml(['a', 'b'])}` +
    route('split', '  models: [split]\n  defaultBackend: { name: a }\n') +
    route('costpriced', '  models: [priced]\n  defaultBackend: { name: b }\n')

  it('naming a route that does not serve the model it asks for is a 403, and nothing is sent', async () => {
    const fleet = fakeFleet()
    const gw = await testGateway(yaml, fleet)
    const r = await json(await gw.chat({ authorization: 'Bearer kx-split-only-01', 'x-route': 'costpriced' }, { model: 'split' }))
    expect(r.status).toBe(403)
    expect(r.error).toMatchObject({ type: 'permission_error', code: 'route_not_allowed' })
    expect(r.error.message).toContain("route 'costpriced' does not serve the model 'split'")
    expect(fleet.log).toEqual([])
  })

  it('naming the route that serves its model works as before', async () => {
    const gw = await testGateway(yaml, fakeFleet())
    expect(await json(await gw.chat({ authorization: 'Bearer kx-split-only-01', 'x-route': 'split' }, { model: 'split' }))).toMatchObject({ status: 200, route: 'split' })
  })

  it('a key with no model restriction may still name any route, whatever the model', async () => {
    const gw = await testGateway(yaml, fakeFleet())
    expect(await json(await gw.chat({ authorization: 'Bearer kx-anything-0001', 'x-route': 'costpriced' }, { model: 'split' }))).toMatchObject({ status: 200, route: 'costpriced' })
  })
})

describe('X-Route and route limits', () => {
  const yaml =
    `${openGateway}---\n${backendsYaml(['a', 'b'])}` +
    route('paid', '  models: [m]\n  defaultBackend: { name: a }\n  rateLimit: { requestsPerMinute: 2, perUser: true }\n') +
    route('free', '  defaultBackend: { name: b }\n  rateLimit: { requestsPerMinute: 5, perUser: true }\n')
  const user = { 'x-user-id': 'u1' }

  it("a user who spent the model's route limit gets no more by naming a looser route", async () => {
    const gw = await testGateway(yaml, fakeFleet())
    for (let i = 0; i < 2; i++) expect((await gw.chat(user)).status).toBe(200)
    expect((await gw.chat(user)).status).toBe(429)
    const r = await json(await gw.chat({ ...user, 'x-route': 'free' }))
    expect(r.status).toBe(429)
    expect(r.error.message).toContain("on route 'paid'")
  })

  it("the named route's own limits apply to what it serves", async () => {
    const gw = await testGateway(yaml, fakeFleet())
    // A model only the catch-all serves: its own limit of 5.
    for (let i = 0; i < 5; i++) expect((await gw.chat({ ...user, 'x-route': 'free' }, { model: 'other' })).status).toBe(200)
    const r = await json(await gw.chat({ ...user, 'x-route': 'free' }, { model: 'other' }))
    expect(r.status).toBe(429)
    expect(r.error.message).toContain("on route 'free'")
  })
})
