// An operation no backend of the route can serve (embeddings on an
// Anthropic route) is the client's to fix: a 400 naming the reason, not a
// 503 the SDKs would retry, and nothing is sent upstream.
import { describe, expect, it } from 'vitest'
import { backendsYaml, fakeFleet, openGateway, routeYaml, testGateway } from '../helpers/fake-fleet.ts'

const claude = (name: string) => `apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: ${name} }
spec:
  type: external
  external: { url: "http://${name}.test", provider: anthropic }
---
`
const predictive = (name: string) => `apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: ${name} }
spec:
  type: kserve
  kserve: { serviceName: ${name}, protocol: v2, url: "http://${name}.test" }
---
`
const chat = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) }
const embed = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', input: 'hello' }) }

describe('an operation the route cannot serve', () => {
  it('embeddings on an Anthropic-only route: 400 unsupported_operation naming the backends', async () => {
    const fleet = fakeFleet()
    const gw = await testGateway(`${openGateway}---\n${claude('claude')}${claude('claude-2')}${routeYaml('  models: [m]\n  defaultBackend: { name: claude }\n  fallback: { backends: [claude-2] }\n')}`, fleet)
    const res = await gw.call('/v1/embeddings', embed)
    expect(res.status).toBe(400)
    const { error } = (await res.json()) as any
    expect(error).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_operation' })
    expect(error.message).toContain('embeddings')
    expect(error.message).toContain("'claude' (anthropic)")
    expect(fleet.log).toEqual([])
  })

  it('a route with one backend that can: it serves them', async () => {
    const fleet = fakeFleet()
    const gw = await testGateway(`${openGateway}---\n${claude('claude')}${backendsYaml(['b'])}${routeYaml('  models: [m]\n  defaultBackend: { name: claude }\n  fallback: { backends: [b] }\n')}`, fleet)
    const res = await gw.call('/v1/embeddings', embed)
    expect(res.status).toBe(200)
    expect(res.headers.get('x-kortex-backend')).toBe('b')
  })

  it('chat on a route whose only backend is a predictive KServe model (V2): 400 naming it and the way to reach it', async () => {
    const fleet = fakeFleet()
    const gw = await testGateway(`${openGateway}---\n${predictive('iris')}${routeYaml('  models: [m]\n  defaultBackend: { name: iris }\n')}`, fleet)
    const res = await gw.call('/v1/chat/completions', chat)
    expect(res.status).toBe(400)
    const { error } = (await res.json()) as any
    expect(error).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_operation' })
    expect(error.message).toContain("'iris' (kserve v2, reached at /kserve/iris/v2/...)")
    expect(fleet.log).toEqual([])
  })
})
