// End to end, with no cluster: the test API server, the controller serving
// GET /config, and a running Node gateway pulling it (long poll) and routing
// real HTTP requests to fake upstreams.
//   apply resources -> a new config version -> the gateway routes by it;
//   update a route's weights -> traffic follows;
//   an invalid resource -> its condition is False with a useful message, the previous config stays;
//   an InferenceService becomes ready -> the kserve backend resolves to its status.address.url;
//   the watch connection drops -> the controller resumes without losing an event.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KortexController } from '../../k8s/controller/controller.ts'
import { startKortex, type Kortex } from '../../adapters/node/start.ts'
import { startServer, readJson, type TestServer } from '../helpers/server.ts'
import { FakeApiServer, PATHS } from './fake-apiserver.ts'
import { backend, eventually, gatewayConfig, kubeConfigFor, route, secret } from './helpers.ts'

let api: FakeApiServer
let ctl: KortexController
let gw: Kortex
const upstreams: Record<string, TestServer> = {}
const seen: Array<{ upstream: string; path: string; model: string; auth?: string }> = []
const notices: string[] = []

function upstream(name: string) {
  return startServer(async (req, res) => {
    const body = await readJson(req)
    seen.push({ upstream: name, path: req.url!, model: body.model, auth: req.headers.authorization })
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 1, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: `from ${name}` }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } }))
  })
}

async function ask(model: string, headers: Record<string, string> = {}): Promise<{ status: number; content?: string; backend: string | null }> {
  const r = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  })
  const j = (await r.json()) as any
  return { status: r.status, content: j.choices?.[0]?.message?.content, backend: r.headers.get('x-kortex-backend') }
}

const condition = (path: string, ns: string, name: string, type: string) => api.get(path, ns, name)?.status?.conditions?.find((c: any) => c.type === type)

beforeAll(async () => {
  api = new FakeApiServer()
  await api.start()
  for (const n of ['a', 'b', 'kserve']) upstreams[n] = await upstream(n)
  ctl = new KortexController({ kc: kubeConfigFor(api.url), tokens: ['ctl-token'], port: 0, host: '127.0.0.1', debounceMs: 10, log: () => {} })
  const url = await ctl.start()
  gw = await Promise.race([
    startKortex({ configUrl: `${url}/config`, configToken: 'ctl-token', port: 0, log: { info() {}, warn() {}, error() {} } as never, notice: (l) => notices.push(l) }).then(async (k) => (await k.ready, k)),
    // The first config arrives once the cluster holds something valid.
    (async () => {
      await new Promise((r) => setTimeout(r, 50))
      api.apply(gatewayConfig())
      api.apply(secret('provider-a', { 'api-key': 'test-a' }))
      api.apply(backend('a', `${upstreams.a!.url}/v1`, { apiKeySecret: { name: 'provider-a', key: 'api-key' } }))
      api.apply(backend('b', `${upstreams.b!.url}/v1`))
      api.apply(route('chat', { models: ['chat'], rules: [{ backends: [{ name: 'a', weight: 100 }, { name: 'b', weight: 0 }] }] }))
      return new Promise<never>(() => {})
    })(),
  ])
})

afterAll(async () => {
  await gw?.close()
  await ctl?.stop()
  await api?.stop()
  for (const u of Object.values(upstreams)) await u.close()
})

describe('Kubernetes end to end: resources -> controller -> Node gateway', () => {
  it('applied resources become a config version the gateway pulls and routes by, with the Secret as the upstream key', async () => {
    await eventually(async () => (await ask('chat')).content === 'from a')
    expect(seen.at(-1)).toMatchObject({ upstream: 'a', path: '/v1/chat/completions', model: 'a-model', auth: 'Bearer test-a' })
    expect(notices.some((n) => n.includes(`config ${ctl.snapshot!.version}`))).toBe(true)
    await eventually(() => condition(PATHS.routes, 'apps', 'chat', 'Ready')?.status === 'True')
  })

  it('updating a route\'s weights moves the traffic (weight 0 drains)', async () => {
    const before = ctl.snapshot!.version
    api.apply(route('chat', { models: ['chat'], rules: [{ backends: [{ name: 'a', weight: 0 }, { name: 'b', weight: 100 }] }] }))
    await eventually(() => ctl.snapshot!.version !== before)
    await eventually(async () => (await ask('chat')).content === 'from b')
    const answers = await Promise.all(Array.from({ length: 20 }, () => ask('chat')))
    expect(new Set(answers.map((a) => a.content))).toEqual(new Set(['from b']))
  })

  it('an invalid resource gets a False condition with a useful message, and the previous config stays', async () => {
    const version = ctl.snapshot!.version
    // Passes the CRD schema (header matches are free-form there) but not the gateway: an invalid regular expression.
    api.apply(route('chat', { models: ['chat'], rules: [{ match: { headers: { 'x-tier': { regex: '([a-z' } } }, backends: [{ name: 'a' }] }] }))
    const accepted = await eventually(() => {
      const c = condition(PATHS.routes, 'apps', 'chat', 'Accepted')
      return c?.status === 'False' && c
    })
    expect(accepted).toMatchObject({ reason: 'Invalid', observedGeneration: api.get(PATHS.routes, 'apps', 'chat')!.metadata.generation })
    expect(accepted.message).toContain('spec.rules[0].match.headers.x-tier.regex: must be a valid regular expression')
    expect(accepted.message).toContain('keeps serving generation')
    expect(condition(PATHS.routes, 'apps', 'chat', 'Ready')).toMatchObject({ status: 'False', reason: 'ServingPreviousGeneration' })
    expect(ctl.snapshot!.version).toBe(version)
    expect((await ask('chat')).content).toBe('from b')
    // A new route naming a backend that does not exist says so; everything else keeps serving.
    api.apply(route('broken', { models: ['broken'], defaultBackend: { name: 'gpt-5' } }))
    const refs = await eventually(() => {
      const c = condition(PATHS.routes, 'apps', 'broken', 'ResolvedRefs')
      return c?.status === 'False' && c
    })
    expect(refs.reason).toBe('BackendNotFound')
    expect(refs.message).toContain('backend "gpt-5" is not defined')
    expect(ctl.snapshot!.version).toBe(version)
    expect((await ask('broken')).status).toBe(404)
    expect((await ask('chat')).content).toBe('from b')
  })

  it('a kserve backend resolves to its InferenceService\'s status.address.url when it becomes ready', async () => {
    api.apply({ apiVersion: 'gateway.kortex.io/v1alpha1', kind: 'InferenceBackend', metadata: { name: 'llama', namespace: 'apps' }, spec: { type: 'KServe', kserve: { serviceName: 'llama', namespace: 'models' } } })
    api.apply(route('llama', { models: ['llama'], defaultBackend: { name: 'llama' } }))
    const notFound = await eventually(() => {
      const c = condition(PATHS.backends, 'apps', 'llama', 'ResolvedRefs')
      return c?.reason === 'InferenceServiceNotFound' && c
    })
    expect(notFound.message).toContain('InferenceService models/llama not found')
    const isvc = (ready: boolean) => ({
      apiVersion: 'serving.kserve.io/v1beta1',
      kind: 'InferenceService',
      metadata: { name: 'llama', namespace: 'models' },
      spec: { predictor: { model: { modelFormat: { name: 'huggingface' } } } },
      status: { address: { url: upstreams.kserve!.url }, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    })
    api.apply(isvc(false))
    await eventually(() => condition(PATHS.backends, 'apps', 'llama', 'Ready')?.reason === 'InferenceServiceNotReady')
    api.apply(isvc(true))
    await eventually(() => condition(PATHS.backends, 'apps', 'llama', 'Ready')?.status === 'True')
    expect(api.get(PATHS.backends, 'apps', 'llama')!.status.url).toBe(upstreams.kserve!.url)
    await eventually(async () => (await ask('llama')).content === 'from kserve')
    expect(seen.at(-1)).toMatchObject({ upstream: 'kserve', path: '/openai/v1/chat/completions', model: 'llama' })
  })

  it('when the watch connections drop, the controller resumes and no event is lost', async () => {
    await eventually(() => api.openWatches >= 5)
    api.dropWatches()
    api.apply(route('chat', { models: ['chat'], rules: [{ backends: [{ name: 'a', weight: 100 }, { name: 'b', weight: 0 }] }] }))
    api.remove(PATHS.routes, 'apps', 'broken')
    await eventually(async () => (await ask('chat')).content === 'from a')
    await eventually(() => !ctl.snapshot!.statuses.has('InferenceRoute/apps/broken'))
    expect(condition(PATHS.routes, 'apps', 'chat', 'Ready')).toMatchObject({ status: 'True' })
    // Deleting a backend takes it out of every gateway (the old operator kept it cached).
    api.remove(PATHS.backends, 'apps', 'llama')
    await eventually(async () => (await ask('llama')).status === 404)
  })
})
