// Routing as users configure it, through the gateway: the examples users
// ask for, model aliasing, rules on the API key's team, and health checks
// keeping traffic off a backend.
import { describe, expect, it } from 'vitest'
import { HealthMonitor } from '../../src/resilience/health.ts'
import { loadedEncodings } from '../../src/usage/tokens.ts'
import { backendsYaml, fakeClock, fakeFleet, keyedGateway, openGateway, routeYaml, testGateway } from '../helpers/fake-fleet.ts'

const route = routeYaml

describe('rules as users write them', () => {
  it('"a prompt over 4k tokens goes to claude-3-opus, else llama-3-70b"', async () => {
    const yaml = `${openGateway}---\n${backendsYaml(['claude-3-opus', 'llama-3-70b'])}${route(`  models: [assistant]
  rules:
    - name: long-prompts
      match: { promptTokens: { min: 4000 } }
      backends: [{ name: claude-3-opus }]
  defaultBackend: { name: llama-3-70b }
`)}`
    const fleet = fakeFleet()
    const gw = await testGateway(yaml, fleet)
    const ask = (content: string) => gw.chat({}, { model: 'assistant', messages: [{ role: 'user', content }] })
    const short = await ask('What is the capital of France?')
    expect(short.headers.get('x-kortex-backend')).toBe('llama-3-70b')
    expect(short.headers.get('x-kortex-rule')).toBeNull()
    const long = await ask('lorem ipsum dolor sit amet '.repeat(1200)) // ~6,000 tokens
    expect(long.headers.get('x-kortex-backend')).toBe('claude-3-opus')
    expect(long.headers.get('x-kortex-rule')).toBe('long-prompts')
    // Both were far from the bound: decided from the estimate, no tokenizer loaded.
    expect(loadedEncodings()).toEqual([])
    // The backend's own model name goes upstream, not the alias.
    expect(((await long.json()) as any).model).toBe('claude-3-opus-model')
  })

  it('near the bound the exact count decides', async () => {
    const yaml = `${openGateway}---\n${backendsYaml(['big', 'small'])}${route(`  rules:
    - match: { promptTokens: { min: 1000 } }
      backends: [{ name: big }]
  defaultBackend: { name: small }
`)}`
    const gw = await testGateway(yaml, fakeFleet())
    // "hello " is one token in every encoding: 996 + 7 (message overhead) + ... lands within a few tokens of 1000.
    const at = async (n: number) => (await gw.chat({}, { model: 'gpt-4o', messages: [{ role: 'user', content: 'hello '.repeat(n).trim() }] })).headers.get('x-kortex-backend')
    expect(await at(950)).toBe('small')
    expect(await at(1050)).toBe('big')
    expect(loadedEncodings()).toContain('o200k_base')
  })

  it('"x-user-tier: premium goes to gpt-4", and a rule on the API key\'s team', async () => {
    const yaml = `${keyedGateway(['{ name: ml-app, key: kx-ml-app-0001, team: ml }', '{ name: web-app, key: kx-web-app-0001, team: web }'])}---
${backendsYaml(['gpt-4', 'llama', 'gpu-pool'])}${route(`  rules:
    - match: { headers: { x-user-tier: premium } }
      backends: [{ name: gpt-4 }]
    - match: { principal: { team: ml } }
      backends: [{ name: gpu-pool }]
  defaultBackend: { name: llama }
`)}`
    const gw = await testGateway(yaml, fakeFleet())
    const via = async (key: string, h: Record<string, string> = {}) => (await gw.chat({ authorization: `Bearer ${key}`, ...h })).headers.get('x-kortex-backend')
    expect(await via('kx-web-app-0001', { 'x-user-tier': 'premium' })).toBe('gpt-4')
    expect(await via('kx-web-app-0001')).toBe('llama')
    expect(await via('kx-ml-app-0001')).toBe('gpu-pool')
    expect(await via('kx-ml-app-0001', { 'x-user-tier': 'premium' })).toBe('gpt-4') // first match wins
  })
})

describe('which route serves a model', () => {
  it('a route that names the model keeps it from an earlier route whose prefix also matches; the prefix takes the rest', async () => {
    const named = (name: string, spec: string) => routeYaml(spec).replace('metadata: { name: r }', `metadata: { name: ${name} }`)
    const yaml = `${openGateway}---\n${backendsYaml(['wide', 'mini'])}${named('gpt4-family', `  rules:
    - match: { modelPrefix: gpt-4 }
      backends: [{ name: wide }]
`)}${named('mini-only', `  models: [gpt-4o-mini]
  defaultBackend: { name: mini }
`)}`
    const gw = await testGateway(yaml, fakeFleet())
    const served = async (model: string) => {
      const r = await gw.chat({}, { model, messages: [{ role: 'user', content: 'hi' }] })
      return `${r.headers.get('x-kortex-route')} ${r.headers.get('x-kortex-backend')}`
    }
    expect(await served('gpt-4o-mini')).toBe('mini-only mini')
    expect(await served('gpt-4o')).toBe('gpt4-family wide')
    expect((await gw.chat({}, { model: 'claude-3', messages: [{ role: 'user', content: 'hi' }] })).status).toBe(404)
  })
})

describe('health checks', () => {
  it('a backend whose probe fails is skipped while others are up, and used again once it recovers', async () => {
    const fleet = fakeFleet()
    let up = false
    const probes: string[] = []
    const health = new HealthMonitor({
      periodic: false,
      fetch: async (input) => {
        const url = String(input)
        probes.push(url)
        return up || !url.includes('a.test') ? Response.json({ object: 'list', data: [] }) : new Response('down', { status: 503 })
      },
    })
    const yaml = `${openGateway}---\n${backendsYaml(['a', 'b'], { a: '  healthCheck: { failureThreshold: 2 }\n', b: '  healthCheck: {}\n' })}${route('  defaultBackend: { name: a }\n  fallback: { backends: [b] }\n')}`
    const gw = await testGateway(yaml, fleet, fakeClock(), { health })
    health.update(gw.config.backends.values())
    await health.checkAll()
    await health.checkAll()
    // Probes are free: the models list, never a completion.
    expect(probes).toContain('http://a.test/v1/models')
    expect(health.health('default/a')).toBe('unhealthy')
    for (let i = 0; i < 3; i++) expect((await gw.chat()).headers.get('x-kortex-backend')).toBe('b')
    expect(fleet.calls.a).toBeUndefined()
    const status = (await (await gw.call('/v1/status')).json()) as any
    expect(status.backends.find((x: any) => x.name === 'a').health).toMatchObject({ health: 'unhealthy', consecutiveFailures: 2 })
    up = true
    await health.checkAll()
    expect((await gw.chat()).headers.get('x-kortex-backend')).toBe('a')
    health.stop()
  })
})

describe('admin endpoints', () => {
  it('need an admin key when the gateway is closed', async () => {
    const yaml = `${keyedGateway(['{ name: app, key: kx-app-key-0001 }', '{ name: ops, key: kx-ops-key-0001, admin: true }'])}---
${backendsYaml(['a'])}${route('  defaultBackend: { name: a }\n')}`
    const gw = await testGateway(yaml, fakeFleet())
    const get = (path: string, key?: string) => gw.call(path, key ? { headers: { authorization: `Bearer ${key}` } } : {})
    expect((await get('/v1/status')).status).toBe(401)
    const denied = await get('/v1/status', 'kx-app-key-0001')
    expect(denied.status).toBe(403)
    expect(((await denied.json()) as any).error.code).toBe('admin_required')
    const ok = await get('/v1/status', 'kx-ops-key-0001')
    expect(ok.status).toBe(200)
    expect(((await ok.json()) as any).backends[0]).toMatchObject({ name: 'a', breaker: { state: 'closed' }, inflight: 0, maxConcurrency: 100 })
    expect((await get('/v1/experiments', 'kx-app-key-0001')).status).toBe(403)
  })
})
