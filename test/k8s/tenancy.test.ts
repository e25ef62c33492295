// Many teams write resources in one cluster: seen from the tenant who would be
// harmed, nothing one namespace writes reaches another's credentials or
// traffic. The test API server, the controller and a Node gateway pulling
// from it; upstreams record the key each request carried.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KortexController } from '../../k8s/controller/controller.ts'
import { startKortex, type Kortex } from '../../adapters/node/start.ts'
import { startServer, readJson, type TestServer } from '../helpers/server.ts'
import { FakeApiServer, PATHS } from './fake-apiserver.ts'
import { backend, eventually, gatewayConfig, kubeConfigFor, route, secret } from './helpers.ts'

let api: FakeApiServer
let ctl: KortexController
let gw: Kortex
let up: TestServer
const seen: Array<{ path: string; auth?: string }> = []

async function ask(model: string, key: string | null = 'kx-platform'): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) }
  const r = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) })
  return { status: r.status, body: await r.json() }
}

const condition = (path: string, ns: string, name: string, type: string) => api.get(path, ns, name)?.status?.conditions?.find((c: any) => c.type === type)

beforeAll(async () => {
  api = new FakeApiServer()
  await api.start()
  up = await startServer(async (req, res) => {
    const body = await readJson(req)
    seen.push({ path: req.url!, auth: req.headers.authorization })
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 1, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }))
  })
  // The platform, in the controller's namespace: its GatewayConfig (one API key), its provider key and a backend using it.
  api.apply({ ...gatewayConfig('kortex'), spec: { auth: { keys: [{ name: 'platform', key: 'kx-platform' }] }, accessLog: false } })
  api.apply(secret('openai-credentials', { 'api-key': 'test-platform' }, 'kortex'))
  api.apply(backend('gpt', `${up.url}/v1`, { apiKeySecret: { name: 'openai-credentials', key: 'api-key' } }, 'kortex'))
  api.apply(route('chat', { models: ['gpt-4o'], defaultBackend: { name: 'gpt' } }, 'kortex'))
  ctl = new KortexController({ kc: kubeConfigFor(api.url, 'kortex'), tokens: ['ctl-token'], port: 0, host: '127.0.0.1', debounceMs: 10, kserve: false, log: () => {} })
  const url = await ctl.start()
  // The gateway's environment holds the controller token under the name a Secret "kortex-config" key "token" maps to.
  process.env.KORTEX_CONFIG_TOKEN = 'ctl-token'
  gw = await startKortex({ configUrl: `${url}/config`, configToken: 'ctl-token', port: 0, log: { info() {}, warn() {}, error() {} } as never, notice: () => {} })
  await gw.ready
})

afterAll(async () => {
  delete process.env.KORTEX_CONFIG_TOKEN
  await gw?.close()
  await ctl?.stop()
  await api?.stop()
  await up?.close()
})

describe('a backend only ever receives its own Secret', () => {
  it('naming a Secret that only the platform namespace holds gets no key: 503, as its status says', async () => {
    api.apply(backend('grab', `${up.url}/grab/v1`, { apiKeySecret: { name: 'openai-credentials', key: 'api-key' } }, 'z-tenant'))
    api.apply(route('grab', { models: ['z-model'], defaultBackend: { name: 'grab' } }, 'z-tenant'))
    const r = await eventually(async () => {
      const a = await ask('z-model')
      return a.status !== 404 ? a : undefined
    })
    expect(r.status).toBe(503)
    expect(r.body.error.message).toContain('Secret z-tenant/openai-credentials key "api-key"')
    const ready = await eventually(() => condition(PATHS.backends, 'z-tenant', 'grab', 'ResolvedRefs'))
    expect(ready).toMatchObject({ status: 'False', reason: 'SecretNotFound' })
    expect(condition(PATHS.backends, 'z-tenant', 'grab', 'Ready')!.message).toContain('requests to this backend get 503')
    expect(seen.filter((s) => s.path.startsWith('/grab'))).toEqual([])
    // The platform's own backend still gets its key.
    expect((await ask('gpt-4o')).status).toBe(200)
    expect(seen.at(-1)!.auth).toBe('Bearer test-platform')
  })

  it('naming {name: kortex-config, key: token} does not hand it the gateway\'s own environment (the controller token)', async () => {
    api.apply(backend('token', `${up.url}/token/v1`, { apiKeySecret: { name: 'kortex-config', key: 'token' } }, 'z-tenant'))
    api.apply(route('token', { models: ['z-token'], defaultBackend: { name: 'token' } }, 'z-tenant'))
    const r = await eventually(async () => {
      const a = await ask('z-token')
      return a.status !== 404 ? a : undefined
    })
    expect(r.status).toBe(503)
    expect(JSON.stringify(r.body)).not.toContain('ctl-token')
    expect(seen.filter((s) => s.path.startsWith('/token'))).toEqual([])
    // Once the tenant creates its own Secret, it gets that value, and only that.
    api.apply(secret('kortex-config', { token: 'test-z-tenant' }, 'z-tenant'))
    await eventually(async () => (await ask('z-token')).status === 200)
    expect(seen.at(-1)).toEqual({ path: '/token/v1/chat/completions', auth: 'Bearer test-z-tenant' })
  })

  it('a Secret RBAC does not let the controller read is reported as forbidden, with the Role rule to add', async () => {
    api.forbidden.add('secrets/locked')
    api.apply(secret('provider', { 'api-key': 'test-locked' }, 'locked'))
    api.apply(backend('locked', `${up.url}/locked/v1`, { apiKeySecret: { name: 'provider', key: 'api-key' } }, 'locked'))
    const refs = await eventually(() => {
      const c = condition(PATHS.backends, 'locked', 'locked', 'ResolvedRefs')
      return c?.status === 'False' && c
    })
    expect(refs.reason).toBe('SecretForbidden')
    expect(refs.message).toContain('may not read Secret locked/provider (403 Forbidden)')
    expect(refs.message).toContain('Role in namespace locked')
    expect(refs.message).toContain('{apiGroups: [""], resources: [secrets], resourceNames: [provider], verbs: [get, list, watch]}')
    expect(refs.message).not.toContain('not exist')
  })
})

describe('one tenant cannot take over another', () => {
  it('a GatewayConfig outside the controller\'s namespace is not accepted, says why, and does not open auth', async () => {
    expect((await ask('gpt-4o', null)).status).toBe(401)
    api.apply({ ...gatewayConfig('a-tenant'), metadata: { name: 'takeover', namespace: 'a-tenant' }, spec: { auth: { open: true } } })
    const accepted = await eventually(() => condition(PATHS.gatewayconfigs, 'a-tenant', 'takeover', 'Accepted'))
    expect(accepted).toMatchObject({ status: 'False', reason: 'NamespaceNotAllowed' })
    expect(accepted.message).toContain('accepted only in namespace kortex')
    expect(condition(PATHS.gatewayconfigs, 'a-tenant', 'takeover', 'Ready')!.status).toBe('False')
    expect((await ask('gpt-4o', null)).status).toBe(401)
    expect((await ask('gpt-4o')).status).toBe(200)
    expect(ctl.snapshot!.document.resources.filter((r: any) => r.kind === 'GatewayConfig').map((r: any) => r.metadata.namespace)).toEqual(['kortex'])
  })

  it('a later route in another namespace listing the platform\'s model does not get it; both routes name the other', async () => {
    api.apply(backend('evil', `${up.url}/evil/v1`, {}, 'a-tenant'))
    api.apply(route('grab', { models: ['gpt-4o', 'a-model'], defaultBackend: { name: 'evil' } }, 'a-tenant'))
    await eventually(async () => (await ask('a-model')).status === 200) // the rest of the route serves
    expect(seen.at(-1)!.path).toBe('/evil/v1/chat/completions')
    for (let i = 0; i < 3; i++) {
      expect((await ask('gpt-4o')).status).toBe(200)
      expect(seen.at(-1)).toEqual({ path: '/v1/chat/completions', auth: 'Bearer test-platform' })
    }
    const lost = await eventually(() => condition(PATHS.routes, 'a-tenant', 'grab', 'ModelConflict'))
    expect(lost).toMatchObject({ status: 'True', reason: 'ModelTaken' })
    expect(lost.message).toContain('model "gpt-4o" is also listed by InferenceRoute kortex/chat, which is older and keeps it')
    expect(condition(PATHS.routes, 'a-tenant', 'grab', 'Ready')).toMatchObject({ status: 'False', reason: 'ModelConflict' })
    const kept = await eventually(() => condition(PATHS.routes, 'kortex', 'chat', 'ModelConflict'))
    expect(kept).toMatchObject({ status: 'True', reason: 'ModelKept' })
    expect(kept.message).toContain('model "gpt-4o" is also listed by InferenceRoute a-tenant/grab; this route is older and keeps it')
    expect(condition(PATHS.routes, 'kortex', 'chat', 'Ready')!.status).toBe('True')
  })

  it('a newer route in another namespace whose model pattern overlaps the platform\'s older pattern route does not take its models', async () => {
    api.apply(route('gpt4-family', { rules: [{ match: { modelPattern: 'gpt-4-*' }, backends: [{ name: 'gpt', weight: 100 }] }] }, 'kortex'))
    await eventually(async () => (await ask('gpt-4-turbo')).status === 200)
    api.apply(backend('prefix', `${up.url}/prefix/v1`, {}, 'a-tenant'))
    api.apply(route('prefix', { rules: [{ match: { modelPrefix: 'gpt-4' }, backends: [{ name: 'prefix', weight: 100 }] }] }, 'a-tenant'))
    // The tenant's route serves what nobody older serves by pattern...
    await eventually(async () => (await ask('gpt-4.1')).status === 200 && seen.at(-1)!.path.startsWith('/prefix/'))
    // ...and never the platform's gpt-4-turbo, though a-tenant sorts before kortex.
    for (let i = 0; i < 3; i++) {
      expect((await ask('gpt-4-turbo')).status).toBe(200)
      expect(seen.at(-1)).toEqual({ path: '/v1/chat/completions', auth: 'Bearer test-platform' })
    }
  })

  it('a newer route in another namespace that lists a model the platform\'s older pattern route serves does not take it; it says which route keeps it', async () => {
    api.apply(route('listed', { models: ['gpt-4-turbo', 'a-listed'], defaultBackend: { name: 'prefix' } }, 'a-tenant'))
    await eventually(async () => (await ask('a-listed')).status === 200 && seen.at(-1)!.path.startsWith('/prefix/'))
    for (let i = 0; i < 3; i++) {
      expect((await ask('gpt-4-turbo')).status).toBe(200)
      expect(seen.at(-1)).toEqual({ path: '/v1/chat/completions', auth: 'Bearer test-platform' })
    }
    const lost = await eventually(() => condition(PATHS.routes, 'a-tenant', 'listed', 'ModelConflict'))
    expect(lost).toMatchObject({ status: 'True', reason: 'ModelTaken' })
    expect(lost.message).toContain('model "gpt-4-turbo" is also served by a rule of InferenceRoute kortex/gpt4-family, which is older and keeps it')
    expect(condition(PATHS.routes, 'kortex', 'gpt4-family', 'ModelConflict')).toMatchObject({ status: 'True', reason: 'ModelKept' })
  })

  it('a route that serves any model is not accepted in a tenant namespace: it would take everyone\'s unknown models', async () => {
    expect((await ask('typo-model')).body.error.code).toBe('model_not_found')
    api.apply(route('swallow', { defaultBackend: { name: 'prefix' } }, 'a-tenant'))
    api.apply(route('star', { models: ['a-star'], rules: [{ match: { modelPattern: '*' }, backends: [{ name: 'prefix', weight: 100 }] }] }, 'a-tenant'))
    for (const name of ['swallow', 'star']) {
      const accepted = await eventually(() => condition(PATHS.routes, 'a-tenant', name, 'Accepted'))
      expect(accepted).toMatchObject({ status: 'False', reason: 'CatchAllNotAllowed' })
      expect(accepted.message).toContain('accepted only in namespace kortex')
      expect(condition(PATHS.routes, 'a-tenant', name, 'Ready')).toMatchObject({ status: 'False', reason: 'NotServed' })
    }
    const before = seen.length
    const r = await ask('typo-model')
    expect(r.status).toBe(404)
    expect(r.body.error.code).toBe('model_not_found')
    expect(seen.length).toBe(before) // no upstream saw the prompt
    // The platform's own catch-all is accepted.
    api.apply(route('default', { defaultBackend: { name: 'gpt' } }, 'kortex'))
    await eventually(async () => (await ask('typo-model')).status === 200)
    expect(seen.at(-1)).toEqual({ path: '/v1/chat/completions', auth: 'Bearer test-platform' })
  })
})
