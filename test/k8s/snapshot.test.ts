// The controller's core without an API server: cluster state in, one
// versioned config document out (secrets resolved, kserve addresses from the
// InferenceService), conditions on every resource; and GET /config with its
// ETag, 304, long poll and token.
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigPuller } from '../../src/config/pull.ts'
import { SnapshotBuilder, type ClusterView, type KubeObject } from '../../k8s/controller/snapshot.ts'
import { ConfigServer } from '../../k8s/controller/server.ts'
import { Metrics } from '../../k8s/controller/metrics.ts'
import { modelRoute } from '../../src/routing/resolve.ts'

const G = 'gateway.kortex.io/v1alpha1'
let gen = 0
const res = (kind: string, name: string, spec: unknown, namespace = 'team-a'): KubeObject => ({ apiVersion: G, kind, metadata: { name, namespace, generation: ++gen, uid: `${kind}-${name}` }, spec })
const b64 = (s: string) => Buffer.from(s).toString('base64')

function cluster(resources: KubeObject[], secrets: KubeObject[] = [], isvcs: KubeObject[] = []): ClusterView {
  const find = (list: KubeObject[]) => (ns: string, name: string) => list.find((o) => o.metadata.name === name && (o.metadata.namespace ?? 'default') === ns)
  return { resources, secret: find(secrets), inferenceService: find(isvcs) }
}

const gpt = res('InferenceBackend', 'gpt', { type: 'External', external: { url: 'https://api.openai.com/v1', provider: 'OpenAI', apiKeySecret: { name: 'openai', key: 'api-key' } } })
const claude = res('InferenceBackend', 'claude', { type: 'external', external: { url: 'https://api.anthropic.com', provider: 'anthropic' } })
const route = res('InferenceRoute', 'chat', { models: ['chat'], defaultBackend: { name: 'gpt' }, fallback: { backends: ['claude'] } })
const secret: KubeObject = { kind: 'Secret', metadata: { name: 'openai', namespace: 'team-a' }, data: { 'api-key': b64('test-cluster') } }
const cond = (s: { conditions: Array<{ type: string }> } | undefined, type: string) => s?.conditions.find((c) => c.type === type) as any

describe('SnapshotBuilder', () => {
  it('compiles resources into one versioned document with the referenced secrets, and marks them Ready', async () => {
    const b = new SnapshotBuilder()
    const s = await b.build(cluster([gpt, claude, route], [secret]))
    expect(s.document).toMatchObject({ kind: 'KortexConfig', version: s.version, secrets: { 'team-a/openai/api-key': 'test-cluster' } })
    expect(s.document.resources).toHaveLength(3)
    expect(s.compiled.backends.get('team-a/gpt')!.apiKey).toBe('test-cluster')
    expect(cond(s.statuses.get('InferenceRoute/team-a/chat'), 'Ready')).toMatchObject({ status: 'True', observedGeneration: route.metadata.generation })
    expect(s.statuses.get('InferenceRoute/team-a/chat')!.fields).toMatchObject({ phase: 'Active', activeBackends: 1 })
    // The old operator's conditions, too.
    expect(cond(s.statuses.get('InferenceRoute/team-a/chat'), 'RouteValid').status).toBe('True')
    expect(cond(s.statuses.get('InferenceRoute/team-a/chat'), 'BackendsReady')).toMatchObject({ status: 'True', message: 'All 2 backends are ready' })
    expect(cond(s.statuses.get('InferenceBackend/team-a/gpt'), 'Healthy').status).toBe('Unknown')
    // Same state, same version; a rotated secret is a new version.
    expect((await b.build(cluster([gpt, claude, route], [secret]))).version).toBe(s.version)
    const rotated = { ...secret, data: { 'api-key': b64('test-rotated') } }
    expect((await b.build(cluster([gpt, claude, route], [rotated]))).version).not.toBe(s.version)
  })

  it('a route naming a missing backend says so on the route; the rest keeps working', async () => {
    const b = new SnapshotBuilder()
    const broken = res('InferenceRoute', 'broken', { models: ['x'], defaultBackend: { name: 'nope' } })
    const s = await b.build(cluster([gpt, claude, route, broken], [secret]))
    expect(s.document.resources.map((r: any) => r.metadata.name)).toEqual(['claude', 'gpt', 'chat'])
    const st = s.statuses.get('InferenceRoute/team-a/broken')!
    expect(cond(st, 'ResolvedRefs')).toMatchObject({ status: 'False', reason: 'BackendNotFound' })
    expect(cond(st, 'ResolvedRefs').message).toContain('backend "nope" is not defined')
    expect(cond(st, 'Ready')).toMatchObject({ status: 'False', reason: 'NotServed' })
    expect(st.fields.phase).toBe('Failed')
    expect(cond(s.statuses.get('InferenceRoute/team-a/chat'), 'Ready').status).toBe('True')
  })

  it('a route naming a backend that exists but is invalid points at the backend\'s conditions', async () => {
    const badBackend = res('InferenceBackend', 'gpt', { type: 'external', external: { url: 'not a url' } })
    const s = await new SnapshotBuilder().build(cluster([badBackend, route, claude]))
    expect(cond(s.statuses.get('InferenceBackend/team-a/gpt'), 'Accepted')).toMatchObject({ status: 'False', reason: 'Invalid' })
    const refs = cond(s.statuses.get('InferenceRoute/team-a/chat'), 'ResolvedRefs')
    expect(refs).toMatchObject({ status: 'False', reason: 'BackendNotFound' })
    expect(refs.message).toContain('InferenceBackend team-a/gpt exists but is not accepted: see its conditions')
  })

  it('an invalid update keeps the last accepted generation serving, and says so', async () => {
    const b = new SnapshotBuilder()
    const first = await b.build(cluster([gpt, claude, route], [secret]))
    const bad = { ...route, metadata: { ...route.metadata, generation: 7 }, spec: { models: ['chat'], defaultBackend: { name: 'gpt', weight: 400 } } }
    const s = await b.build(cluster([gpt, claude, bad], [secret]))
    expect(s.version).toBe(first.version)
    const st = s.statuses.get('InferenceRoute/team-a/chat')!
    expect(cond(st, 'Accepted')).toMatchObject({ status: 'False', reason: 'Invalid', observedGeneration: 7 })
    expect(cond(st, 'Accepted').message).toMatch(/spec\.defaultBackend\.weight: .*100.*keeps serving generation/)
    expect(cond(st, 'Ready')).toMatchObject({ status: 'False', reason: 'ServingPreviousGeneration' })
    // A deleted backend leaves the config; the route naming it now has nothing to fall back to.
    const gone = await b.build(cluster([claude, route], [secret]))
    expect(gone.compiled.backends.has('team-a/gpt')).toBe(false)
    expect(cond(gone.statuses.get('InferenceRoute/team-a/chat'), 'ResolvedRefs').reason).toBe('BackendNotFound')
  })

  it('a kserve backend resolves to its InferenceService status.address.url once it is ready', async () => {
    const b = new SnapshotBuilder()
    const ks = res('InferenceBackend', 'llama', { type: 'KServe', kserve: { serviceName: 'llama', namespace: 'models' } })
    const r = res('InferenceRoute', 'llama', { models: ['llama'], defaultBackend: { name: 'llama' } })
    const missing = await b.build(cluster([ks, r]))
    expect(missing.compiled.backends.get('team-a/llama')!.rootUrl).toBe('http://llama-predictor.models.svc.cluster.local')
    expect(cond(missing.statuses.get('InferenceBackend/team-a/llama'), 'ResolvedRefs').reason).toBe('InferenceServiceNotFound')
    const isvc = (ready: boolean): KubeObject => ({
      kind: 'InferenceService',
      metadata: { name: 'llama', namespace: 'models' },
      status: { address: { url: 'http://llama-predictor.models.svc.cluster.local:8080' }, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', message: 'revision not ready' }] },
    })
    const pending = await b.build(cluster([ks, r], [], [isvc(false)]))
    expect(cond(pending.statuses.get('InferenceBackend/team-a/llama'), 'Ready')).toMatchObject({ status: 'False', reason: 'InferenceServiceNotReady' })
    const ready = await b.build(cluster([ks, r], [], [isvc(true)]))
    expect(ready.compiled.backends.get('team-a/llama')!.baseUrl).toBe('http://llama-predictor.models.svc.cluster.local:8080/openai/v1')
    expect(cond(ready.statuses.get('InferenceBackend/team-a/llama'), 'Ready').status).toBe('True')
    expect(cond(ready.statuses.get('InferenceBackend/team-a/llama'), 'Healthy').status).toBe('True')
    expect(ready.statuses.get('InferenceBackend/team-a/llama')!.fields.health).toBe('Healthy')
    expect(cond(pending.statuses.get('InferenceRoute/team-a/llama'), 'BackendsReady')).toMatchObject({ status: 'False', message: 'Not ready: llama' })
    expect(ready.statuses.get('InferenceBackend/team-a/llama')!.fields.url).toBe('http://llama-predictor.models.svc.cluster.local:8080')
  })

  it('a missing secret: the backend is served (503 until the secret exists) and ResolvedRefs says which', async () => {
    const s = await new SnapshotBuilder().build(cluster([gpt, claude, route]))
    expect(cond(s.statuses.get('InferenceBackend/team-a/gpt'), 'ResolvedRefs')).toMatchObject({ status: 'False', reason: 'SecretNotFound' })
    expect(cond(s.statuses.get('InferenceBackend/team-a/gpt'), 'ResolvedRefs').message).toContain('Secret team-a/openai')
    expect(s.compiled.backends.get('team-a/gpt')!.missingSecret).toBe('Secret team-a/openai key "api-key"')
  })
})

describe('SnapshotBuilder: secrets across namespaces', () => {
  it('two namespaces with a Secret of the same name and key: each backend gets its own namespace\'s value', async () => {
    const other = res('InferenceBackend', 'gpt', { type: 'external', external: { url: 'https://api.openai.com/v1', apiKeySecret: { name: 'openai', key: 'api-key' } } }, 'team-b')
    const otherSecret: KubeObject = { kind: 'Secret', metadata: { name: 'openai', namespace: 'team-b' }, data: { 'api-key': b64('test-team-b') } }
    const s = await new SnapshotBuilder().build(cluster([gpt, other], [secret, otherSecret]))
    expect(s.document.secrets).toEqual({ 'team-a/openai/api-key': 'test-cluster', 'team-b/openai/api-key': 'test-team-b' })
    expect(s.compiled.backends.get('team-a/gpt')!.apiKey).toBe('test-cluster')
    expect(s.compiled.backends.get('team-b/gpt')!.apiKey).toBe('test-team-b')
    expect(cond(s.statuses.get('InferenceBackend/team-b/gpt'), 'ResolvedRefs').status).toBe('True')
  })

  it('a backend naming a Secret that only another namespace holds gets nothing: SecretNotFound, and 503', async () => {
    const grab = res('InferenceBackend', 'grab', { type: 'external', external: { url: 'https://evil.example.com/v1', apiKeySecret: { name: 'openai', key: 'api-key' } } }, 'z-tenant')
    const s = await new SnapshotBuilder().build(cluster([gpt, grab], [secret]))
    expect(s.document.secrets).toEqual({ 'team-a/openai/api-key': 'test-cluster' })
    expect(s.compiled.backends.get('z-tenant/grab')!.apiKey).toBeUndefined()
    expect(cond(s.statuses.get('InferenceBackend/z-tenant/grab'), 'ResolvedRefs')).toMatchObject({ status: 'False', reason: 'SecretNotFound' })
    expect(cond(s.statuses.get('InferenceBackend/z-tenant/grab'), 'Ready').message).toContain('requests to this backend get 503')
  })
})

describe("SnapshotBuilder: a route's inline backends (the design article's shape)", () => {
  it("get their provider's Secret by convention from the route's namespace, and only from it", async () => {
    const inline = res('InferenceRoute', 'router', { models: ['gpt-4-turbo'], backends: [{ name: 'gpt-4', provider: 'openai', model: 'gpt-4-turbo', priority: 1 }] })
    const creds: KubeObject = { kind: 'Secret', metadata: { name: 'openai-credentials', namespace: 'team-a' }, data: { 'api-key': b64('test-inline') } }
    const s = await new SnapshotBuilder().build(cluster([inline], [creds]))
    expect(s.document.secrets).toEqual({ 'team-a/openai-credentials/api-key': 'test-inline' })
    expect(s.compiled.backends.get('team-a/gpt-4')!.apiKey).toBe('test-inline')

    const elsewhere = await new SnapshotBuilder().build(cluster([res('InferenceRoute', 'router', { models: ['gpt-4-turbo'], backends: [{ name: 'gpt-4', provider: 'openai' }] }, 'team-b')], [creds]))
    expect(elsewhere.document.secrets).toEqual({})
    expect(elsewhere.compiled.backends.get('team-b/gpt-4')!.apiKey).toBeUndefined()
  })
})

describe('SnapshotBuilder: emptying the gateway on purpose', () => {
  it('the platform deletes every route and backend: gateways keep the old config, unless its GatewayConfig says the drop is meant', async () => {
    const b = new SnapshotBuilder({ gatewayConfigNamespaces: ['team-a'] })
    const gateway = res('GatewayConfig', 'gateway', { auth: { open: true } })
    const full = (await b.build(cluster([gateway, gpt, claude, route], [secret]))).document
    let served = full
    const p = new ConfigPuller({ url: 'http://controller.test/config', fetch: async () => new Response(JSON.stringify(served)), secrets: () => undefined })
    expect(await p.pullOnce()).toBe('updated')
    served = (await b.build(cluster([gateway]))).document
    expect(await p.pullOnce()).toBe('failed')
    expect(p.current()!.routes.map((r) => r.name)).toEqual(['chat'])
    // A tenant's resource cannot carry the marker through; the platform's GatewayConfig can.
    const marked = (o: KubeObject): KubeObject => ({ ...o, metadata: { ...o.metadata, annotations: { 'kortex.io/allow-empty': 'true' } } })
    const tenantsOnly = (await b.build(cluster([gateway, marked(res('InferenceExperiment', 'x', { variants: [] }))]))).document
    expect(JSON.stringify(tenantsOnly)).not.toContain('allow-empty')
    served = (await b.build(cluster([marked(gateway)]))).document
    expect(await p.pullOnce()).toBe('updated')
    expect(p.current()!.routes).toEqual([])
  })
})

describe('SnapshotBuilder: GatewayConfig namespaces', () => {
  const gc = (namespace: string, spec: unknown) => res('GatewayConfig', 'gateway', spec, namespace)

  it('only the allowed namespaces\' GatewayConfig is served; another says NamespaceNotAllowed', async () => {
    const b = new SnapshotBuilder({ gatewayConfigNamespaces: ['platform', 'kortex'] })
    const s = await b.build(cluster([gc('a-tenant', { auth: { open: true } }), gc('platform', { auth: { open: false } }), claude]))
    expect(s.compiled.gateway.auth.open).toBe(false)
    expect(s.document.resources.filter((r: any) => r.kind === 'GatewayConfig').map((r: any) => r.metadata.namespace)).toEqual(['platform'])
    expect(cond(s.statuses.get('GatewayConfig/a-tenant/gateway'), 'Accepted')).toMatchObject({ status: 'False', reason: 'NamespaceNotAllowed' })
    expect(cond(s.statuses.get('GatewayConfig/a-tenant/gateway'), 'Accepted').message).toContain('platform, kortex')
    expect(cond(s.statuses.get('GatewayConfig/platform/gateway'), 'Ready').status).toBe('True')
  })
})

describe('SnapshotBuilder: two routes listing one model', () => {
  const at = (o: KubeObject, created: string): KubeObject => ({ ...o, metadata: { ...o.metadata, creationTimestamp: created } })
  const mine = at(res('InferenceRoute', 'mine', { models: ['gpt-4o'], defaultBackend: { name: 'claude' } }, 'z-team'), '2026-01-01T00:00:00Z')
  const zclaude = res('InferenceBackend', 'claude', { type: 'external', external: { url: 'https://api.anthropic.com', provider: 'anthropic' } }, 'z-team')
  const attacker = res('InferenceBackend', 'evil', { type: 'external', external: { url: 'https://evil.example.com/v1' } }, 'a-team')

  it('the older route keeps it, whatever its namespace is called; one left with no model is not served', async () => {
    const grab = at(res('InferenceRoute', 'grab', { models: ['gpt-4o'], defaultBackend: { name: 'evil' } }, 'a-team'), '2026-02-01T00:00:00Z')
    const s = await new SnapshotBuilder().build(cluster([mine, zclaude, grab, attacker]))
    expect(s.compiled.routes.map((r) => `${r.namespace}/${r.name}`)).toEqual(['z-team/mine'])
    expect(cond(s.statuses.get('InferenceRoute/a-team/grab'), 'Ready')).toMatchObject({ status: 'False', reason: 'ModelConflict' })
    expect(cond(s.statuses.get('InferenceRoute/a-team/grab'), 'Ready').message).toContain('serves none of its models')
    expect(cond(s.statuses.get('InferenceRoute/z-team/mine'), 'ModelConflict').message).toContain('InferenceRoute a-team/grab')
  })

  it('created in the same second: namespace/name decides, the same on every build', async () => {
    const twin = at(res('InferenceRoute', 'twin', { models: ['gpt-4o', 'other'], defaultBackend: { name: 'evil' } }, 'a-team'), '2026-01-01T00:00:00Z')
    for (const order of [[mine, zclaude, twin, attacker], [twin, attacker, zclaude, mine]]) {
      const s = await new SnapshotBuilder().build(cluster(order))
      expect(s.compiled.routes.find((r) => r.namespace === 'a-team')!.models).toEqual(['gpt-4o', 'other'])
      expect(s.compiled.routes.find((r) => r.namespace === 'z-team')).toBeUndefined()
    }
  })
})

describe('SnapshotBuilder: model patterns and catch-alls across namespaces', () => {
  const at = (o: KubeObject, created: string): KubeObject => ({ ...o, metadata: { ...o.metadata, creationTimestamp: created } })
  const pattern = (name: string, ns: string, match: Record<string, string>) => res('InferenceRoute', name, { rules: [{ match, backends: [{ name: 'claude', weight: 100 }] }] }, ns)
  const claudeIn = (ns: string) => res('InferenceBackend', 'claude', { type: 'external', external: { url: 'https://api.anthropic.com', provider: 'anthropic' } }, ns)

  it('a newer route in another namespace that lists a model the platform\'s older pattern route serves does not take it; both routes name the other', async () => {
    const platform = at(pattern('family', 'z-platform', { modelPrefix: 'gpt-4' }), '2026-01-01T00:00:00Z')
    const grab = at(res('InferenceRoute', 'grab', { models: ['gpt-4o', 'a-model'], defaultBackend: { name: 'claude' } }, 'a-team'), '2026-02-01T00:00:00Z')
    const s = await new SnapshotBuilder({ gatewayConfigNamespaces: ['z-platform'] }).build(cluster([grab, claudeIn('a-team'), platform, claudeIn('z-platform')]))
    const served = (model: string) => { const r = modelRoute(s.compiled, model)!; return `${r.namespace}/${r.name}` }
    expect(served('gpt-4o')).toBe('z-platform/family')
    expect(served('a-model')).toBe('a-team/grab')
    expect(cond(s.statuses.get('InferenceRoute/a-team/grab'), 'ModelConflict')).toMatchObject({ status: 'True', reason: 'ModelTaken' })
    expect(cond(s.statuses.get('InferenceRoute/a-team/grab'), 'ModelConflict').message).toContain('model "gpt-4o" is also served by a rule of InferenceRoute z-platform/family, which is older and keeps it')
    expect(cond(s.statuses.get('InferenceRoute/z-platform/family'), 'ModelConflict')).toMatchObject({ status: 'True', reason: 'ModelKept' })
    expect(cond(s.statuses.get('InferenceRoute/z-platform/family'), 'ModelConflict').message).toContain('model "gpt-4o" is also listed by InferenceRoute a-team/grab; this route is older and keeps it')
  })

  it('within one namespace a route that lists a model still keeps it from a pattern route (one team\'s own choice)', async () => {
    const family = at(pattern('family', 'a-team', { modelPrefix: 'gpt-4' }), '2026-01-01T00:00:00Z')
    const mini = at(res('InferenceRoute', 'mini', { models: ['gpt-4o-mini'], defaultBackend: { name: 'claude' } }, 'a-team'), '2026-02-01T00:00:00Z')
    const s = await new SnapshotBuilder({ gatewayConfigNamespaces: ['z-platform'] }).build(cluster([family, mini, claudeIn('a-team')]))
    expect(modelRoute(s.compiled, 'gpt-4o-mini')!.name).toBe('mini')
  })

  it('an older catch-all of the platform claims no name: a tenant\'s newer route keeps the models it lists', async () => {
    const any = at(pattern('any', 'z-platform', { modelPattern: '*' }), '2026-01-01T00:00:00Z')
    const mine = at(res('InferenceRoute', 'mine', { models: ['mine'], defaultBackend: { name: 'claude' } }, 'a-team'), '2026-02-01T00:00:00Z')
    const s = await new SnapshotBuilder({ gatewayConfigNamespaces: ['z-platform'] }).build(cluster([any, claudeIn('z-platform'), mine, claudeIn('a-team')]))
    expect(modelRoute(s.compiled, 'mine')!.name).toBe('mine')
    expect(cond(s.statuses.get('InferenceRoute/a-team/mine'), 'ModelConflict')).toMatchObject({ status: 'False' })
  })

  it('the served document tries routes oldest first, whatever their namespaces are called', async () => {
    const platform = at(pattern('family', 'z-platform', { modelPattern: 'gpt-4-*' }), '2026-01-01T00:00:00Z')
    const tenant = at(pattern('prefix', 'a-team', { modelPrefix: 'gpt-4' }), '2026-02-01T00:00:00Z')
    const s = await new SnapshotBuilder({ gatewayConfigNamespaces: ['z-platform'] }).build(cluster([tenant, claudeIn('a-team'), platform, claudeIn('z-platform')]))
    const routes = s.document.resources.filter((r: any) => r.kind === 'InferenceRoute').map((r: any) => `${r.metadata.namespace}/${r.metadata.name}`)
    expect(routes).toEqual(['z-platform/family', 'a-team/prefix'])
    expect(s.compiled.routes.map((r) => r.namespace)).toEqual(['z-platform', 'a-team'])
  })

  it('an edit that makes a tenant\'s route take any model is refused; the accepted generation keeps serving', async () => {
    const b = new SnapshotBuilder({ gatewayConfigNamespaces: ['platform'] })
    const first = res('InferenceRoute', 'mine', { models: ['mine'], defaultBackend: { name: 'claude' } }, 'a-team')
    await b.build(cluster([first, claudeIn('a-team')]))
    const edited = { ...first, metadata: { ...first.metadata, generation: first.metadata.generation! + 1 }, spec: { rules: [{ match: { modelPrefix: '' }, backends: [{ name: 'claude', weight: 100 }] }] } }
    const s = await b.build(cluster([edited, claudeIn('a-team')]))
    expect(s.compiled.routes.map((r) => r.models)).toEqual([['mine']])
    const st = s.statuses.get('InferenceRoute/a-team/mine')!
    expect(cond(st, 'Accepted')).toMatchObject({ status: 'False', reason: 'CatchAllNotAllowed' })
    expect(cond(st, 'Accepted').message).toContain(`keeps serving generation ${first.metadata.generation}`)
    expect(cond(st, 'Ready')).toMatchObject({ status: 'False', reason: 'ServingPreviousGeneration' })
    expect(st.fields.lastAccepted).toBeUndefined()
  })
})

describe('ConfigServer', () => {
  let server: ConfigServer | undefined
  afterEach(async () => server?.close())

  it('serves the document with an ETag, 304 on a match, holds a long poll until the version changes, and wants the token', async () => {
    const metrics = new Metrics()
    server = new ConfigServer({ tokens: ['ctl-token'], metrics, ready: () => true })
    const url = await server.listen(0, '127.0.0.1')
    expect((await fetch(`${url}/config`)).status).toBe(401)
    expect((await fetch(`${url}/config`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
    const auth = { authorization: 'Bearer ctl-token' }
    expect((await fetch(`${url}/config`, { headers: auth })).status).toBe(503)
    expect((await fetch(`${url}/readyz`)).status).toBe(503)
    const s1 = await new SnapshotBuilder().build(cluster([gpt, claude, route], [secret]))
    server.publish(s1.document)
    expect((await fetch(`${url}/readyz`)).status).toBe(200)
    const r1 = await fetch(`${url}/config`, { headers: auth })
    expect(r1.headers.get('etag')).toBe(`"${s1.version}"`)
    expect(await r1.json()).toEqual(s1.document)
    expect((await fetch(`${url}/config`, { headers: { ...auth, 'if-none-match': `"${s1.version}"` } })).status).toBe(304)
    // A long poll that times out is a 304; one that sees a change gets the new document at once.
    const t0 = Date.now()
    expect((await fetch(`${url}/config?wait=1`, { headers: { ...auth, 'if-none-match': `"${s1.version}"` } })).status).toBe(304)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900)
    const polling = fetch(`${url}/config?wait=30`, { headers: { ...auth, 'if-none-match': `"${s1.version}"` } })
    await new Promise((r) => setTimeout(r, 100))
    expect(metrics.get('kortex_controller_long_polls')).toBe(1)
    const s2 = await new SnapshotBuilder().build(cluster([gpt, route], [secret]))
    server.publish(s2.document)
    const r2 = await polling
    expect(r2.status).toBe(200)
    expect(r2.headers.get('etag')).toBe(`"${s2.version}"`)
    const m = await (await fetch(`${url}/metrics`)).text()
    expect(m).toContain(`kortex_controller_config_info{version="${s2.version}"} 1`)
    expect(m).toContain('kortex_controller_config_requests_total{code="401"} 2')
    // The gateway's own puller reads it.
    const p = new ConfigPuller({ url: `${url}/config`, token: 'ctl-token', fetch, secrets: () => undefined })
    expect(await p.pullOnce()).toBe('updated')
    expect(p.version).toBe(s2.version)
    expect(p.current()!.backends.get('team-a/gpt')!.apiKey).toBe('test-cluster')
  })
})

describe('SnapshotBuilder: native providers name the Secret they miss', () => {
  // No url: each gets its provider's official endpoint.
  const bedrock = res('InferenceBackend', 'claude-bedrock', {
    type: 'external',
    external: { provider: 'bedrock', region: 'us-east-1', model: 'anthropic.claude-3-haiku-20240307-v1:0', accessKeyIdSecret: { name: 'aws-bedrock', key: 'access-key-id' }, secretAccessKeySecret: { name: 'aws-bedrock', key: 'secret-access-key' } },
  })
  const vertex = res('InferenceBackend', 'gemini-vertex', { type: 'external', external: { provider: 'vertex', project: 'my-project', location: 'us-central1', model: 'gemini-2.0-flash', apiKeySecret: { name: 'vertex-sa', key: 'key.json' } } })
  const chat = res('InferenceRoute', 'native', { models: ['native'], defaultBackend: { name: 'claude-bedrock' }, fallback: { backends: ['gemini-vertex'] } })
  // Made-up values, not credentials.
  const awsSecret: KubeObject = { kind: 'Secret', metadata: { name: 'aws-bedrock', namespace: 'team-a' }, data: { 'access-key-id': b64('test-access-key-id'), 'secret-access-key': b64('test-secret') } }
  const saSecret: KubeObject = { kind: 'Secret', metadata: { name: 'vertex-sa', namespace: 'team-a' }, data: { 'key.json': b64(JSON.stringify({ client_email: 'kortex@my-project.iam.gserviceaccount.com', private_key: 'not a real key' })) } }

  it('a Bedrock backend whose access-key Secret is missing: ResolvedRefs False, SecretNotFound, naming the Secret; still served (503 until it exists)', async () => {
    const s = await new SnapshotBuilder().build(cluster([bedrock, vertex, chat], [saSecret]))
    const c = cond(s.statuses.get('InferenceBackend/team-a/claude-bedrock'), 'ResolvedRefs')
    expect(c).toMatchObject({ status: 'False', reason: 'SecretNotFound' })
    expect(c.message).toBe('Secret team-a/aws-bedrock has no key "access-key-id" (or does not exist); requests to this backend get 503 until it does')
    const b = s.compiled.backends.get('team-a/claude-bedrock')!
    expect(b.missingSecret).toBe('Secret team-a/aws-bedrock key "access-key-id", Secret team-a/aws-bedrock key "secret-access-key"')
    expect(b.rootUrl).toBe('https://bedrock-runtime.us-east-1.amazonaws.com')
    expect(cond(s.statuses.get('InferenceBackend/team-a/gemini-vertex'), 'ResolvedRefs').status).toBe('True')
  })

  it('a Vertex backend whose service-account Secret is missing: SecretNotFound naming it', async () => {
    const s = await new SnapshotBuilder().build(cluster([bedrock, vertex, chat], [awsSecret]))
    const c = cond(s.statuses.get('InferenceBackend/team-a/gemini-vertex'), 'ResolvedRefs')
    expect(c).toMatchObject({ status: 'False', reason: 'SecretNotFound' })
    expect(c.message).toContain('Secret team-a/vertex-sa has no key "key.json"')
    expect(s.compiled.backends.get('team-a/gemini-vertex')!.rootUrl).toBe('https://us-central1-aiplatform.googleapis.com')
    expect(cond(s.statuses.get('InferenceBackend/team-a/claude-bedrock'), 'ResolvedRefs').status).toBe('True')
  })

  it('with both Secrets: resolved, and the credentials reach the compiled backends', async () => {
    const s = await new SnapshotBuilder().build(cluster([bedrock, vertex, chat], [awsSecret, saSecret]))
    for (const name of ['claude-bedrock', 'gemini-vertex']) expect(cond(s.statuses.get(`InferenceBackend/team-a/${name}`), 'ResolvedRefs').status).toBe('True')
    expect(s.compiled.backends.get('team-a/claude-bedrock')!.aws).toMatchObject({ region: 'us-east-1', accessKeyId: 'test-access-key-id', secretAccessKey: 'test-secret' })
    expect(s.compiled.backends.get('team-a/gemini-vertex')!.missingSecret).toBeUndefined()
    expect(s.document.secrets).toEqual({
      'team-a/aws-bedrock/access-key-id': 'test-access-key-id',
      'team-a/aws-bedrock/secret-access-key': 'test-secret',
      'team-a/vertex-sa/key.json': expect.stringContaining('client_email'),
    })
  })
})

describe('SnapshotBuilder: a Secret that is there but holds no usable credential', () => {
  it('a Vertex Secret that is not a service-account key file: ResolvedRefs and Ready False, SecretInvalid, saying why', async () => {
    const vertex = res('InferenceBackend', 'vertex', { type: 'external', external: { provider: 'vertex', project: 'p', location: 'global', apiKeySecret: { name: 'vertex-sa', key: 'key.json' } } })
    const r = res('InferenceRoute', 'v', { models: ['v'], defaultBackend: { name: 'vertex' } })
    const pasted: KubeObject = { kind: 'Secret', metadata: { name: 'vertex-sa', namespace: 'team-a' }, data: { 'key.json': b64('an API key pasted by mistake') } }
    const s = await new SnapshotBuilder().build(cluster([vertex, r], [pasted]))
    const st = s.statuses.get('InferenceBackend/team-a/vertex')
    expect(cond(st, 'ResolvedRefs')).toMatchObject({ status: 'False', reason: 'SecretInvalid' })
    expect(cond(st, 'ResolvedRefs').message).toContain('secret vertex-sa/key.json (it is not JSON (expected a service-account key file))')
    expect(cond(st, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretInvalid' })
  })

  it('a Bedrock backend naming no Secret uses the gateway\'s own AWS identity: nothing for the controller to flag', async () => {
    const bedrock = res('InferenceBackend', 'irsa', { type: 'external', external: { provider: 'bedrock', region: 'us-west-2' } })
    const r = res('InferenceRoute', 'b', { models: ['b'], defaultBackend: { name: 'irsa' } })
    const s = await new SnapshotBuilder().build(cluster([bedrock, r]))
    expect(cond(s.statuses.get('InferenceBackend/team-a/irsa'), 'ResolvedRefs').status).toBe('True')
    expect(s.statuses.get('InferenceBackend/team-a/irsa')!.fields.url).toBe('https://bedrock-runtime.us-west-2.amazonaws.com')
  })
})
