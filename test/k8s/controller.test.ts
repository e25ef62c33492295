// The controller against the fake API server: informers list and watch,
// resume a dropped watch from its resourceVersion without losing an event,
// re-list on 410 Gone, restart after other errors; status is written with
// merge-patch; leader election with a Lease.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { KortexController } from '../../k8s/controller/controller.ts'
import { LeaderElector } from '../../k8s/controller/leader.ts'
import { FakeApiServer, PATHS } from './fake-apiserver.ts'
import { backend, eventually, gatewayConfig, kubeConfigFor, route, secret } from './helpers.ts'

let api: FakeApiServer
let ctl: KortexController | undefined

beforeEach(async () => {
  api = new FakeApiServer()
  await api.start()
})
afterEach(async () => {
  await ctl?.stop()
  ctl = undefined
  await api.stop()
})

const names = (c: KortexController) => (c.snapshot?.document.resources ?? []).map((r: any) => `${r.kind}/${r.metadata.name}`).sort()
const condition = (path: string, name: string, type: string) => api.get(path, 'apps', name)?.status?.conditions?.find((c: any) => c.type === type)

describe('KortexController against an API server', () => {
  it('lists and watches, serves the compiled config, and writes status with a merge patch', async () => {
    api.apply(gatewayConfig())
    api.apply(backend('gpt', 'https://api.openai.com/v1', { apiKeySecret: { name: 'openai', key: 'api-key' } }))
    api.apply(secret('openai', { 'api-key': 'test-in-cluster' }))
    ctl = new KortexController({ kc: kubeConfigFor(api.url), tokens: ['t'], debounceMs: 10, log: () => {} })
    const published: Array<Record<string, string> | undefined> = []
    const publish = ctl.server.publish.bind(ctl.server)
    ctl.server.publish = (doc) => (published.push(doc.secrets), publish(doc))
    await ctl.start()
    expect(names(ctl)).toEqual(['GatewayConfig/gateway', 'InferenceBackend/gpt'])
    // The first config served already carries the Secret: gateways never see a keyless version.
    expect(published[0]).toEqual({ 'apps/openai/api-key': 'test-in-cluster' })
    api.apply(route('chat', { models: ['chat'], defaultBackend: { name: 'gpt' } }))
    await eventually(() => names(ctl!).includes('InferenceRoute/chat'))
    await eventually(() => ctl!.snapshot!.document.secrets!['apps/openai/api-key'] === 'test-in-cluster')
    const ready = await eventually(() => condition(PATHS.routes, 'chat', 'Ready'))
    expect(ready).toMatchObject({ status: 'True', reason: 'Serving', observedGeneration: 1 })
    expect(api.get(PATHS.routes, 'apps', 'chat')!.status.phase).toBe('Active')
    const patches = api.requests.filter((r) => r.method === 'PATCH')
    expect(patches.length).toBeGreaterThan(0)
    expect(patches.every((p) => p.contentType === 'application/merge-patch+json' && p.path.endsWith('/status'))).toBe(true)
    // Only the referenced Secret is watched, by name.
    expect(api.requests.some((r) => r.path.startsWith('/api/v1/namespaces/apps/secrets?') && r.path.includes('fieldSelector=metadata.name%3Dopenai'))).toBe(true)
    expect(api.requests.some((r) => r.path.startsWith('/api/v1/secrets'))).toBe(false)
    // A status write does not loop: the next rebuild finds the status already right.
    const patchCount = () => api.requests.filter((r) => r.method === 'PATCH').length
    await eventually(async () => {
      const n = patchCount()
      await new Promise((r) => setTimeout(r, 300))
      return patchCount() === n // settled: every status written
    })
    const count = patchCount()
    await ctl.rebuild()
    await new Promise((r) => setTimeout(r, 200))
    expect(api.requests.filter((r) => r.method === 'PATCH').length).toBe(count)
    // The secret rotates: a new config version carries it.
    const v = ctl.snapshot!.version
    api.apply(secret('openai', { 'api-key': 'test-rotated' }))
    await eventually(() => ctl!.snapshot!.version !== v && ctl!.snapshot!.document.secrets!['apps/openai/api-key'] === 'test-rotated')
  })

  it('a dropped watch resumes from its resourceVersion without losing an event; a compacted one re-lists (410 Gone)', async () => {
    api.apply(gatewayConfig())
    api.apply(backend('a', 'https://a.example.com/v1'))
    ctl = new KortexController({ kc: kubeConfigFor(api.url), tokens: [], debounceMs: 10, log: () => {} })
    await ctl.start()
    await eventually(() => api.openWatches >= 5, 5000, 'watches open')
    const watchesBefore = api.requests.filter((r) => r.path.includes('watch=true') && r.path.includes('inferencebackends')).length
    const listsBefore = api.requests.filter((r) => !r.path.includes('watch=true') && r.path.startsWith(PATHS.backends)).length
    // Cut every watch and change things while nobody is watching.
    api.dropWatches()
    api.apply(backend('b', 'https://b.example.com/v1'))
    api.remove(PATHS.backends, 'apps', 'a')
    await eventually(() => names(ctl!).join() === 'GatewayConfig/gateway,InferenceBackend/b')
    const rewatch = api.requests.filter((r) => r.path.includes('watch=true') && r.path.includes('inferencebackends'))
    expect(rewatch.length).toBeGreaterThan(watchesBefore)
    expect(rewatch.at(-1)!.path).toMatch(/resourceVersion=\d+/)
    expect(api.requests.filter((r) => !r.path.includes('watch=true') && r.path.startsWith(PATHS.backends)).length).toBe(listsBefore) // resumed, not re-listed
    // Now the history is compacted while the watch is down: the resume gets 410 and the informer re-lists.
    await eventually(() => api.openWatches >= 5, 5000, 'watches reopen')
    api.dropWatches()
    api.apply(backend('c', 'https://c.example.com/v1'))
    api.remove(PATHS.backends, 'apps', 'b')
    api.compact()
    await eventually(() => names(ctl!).join() === 'GatewayConfig/gateway,InferenceBackend/c')
    expect(api.requests.filter((r) => !r.path.includes('watch=true') && r.path.startsWith(PATHS.backends)).length).toBeGreaterThan(listsBefore)
  })

  it('WATCH_NAMESPACE: a namespaced install lists and watches one namespace only', async () => {
    api.apply(gatewayConfig())
    api.apply(backend('mine', 'https://a.example.com/v1'))
    api.apply(backend('theirs', 'https://b.example.com/v1', {}, 'other-team'))
    ctl = new KortexController({ kc: kubeConfigFor(api.url), tokens: [], debounceMs: 10, log: () => {}, namespace: 'apps' })
    await ctl.start()
    expect(names(ctl)).toEqual(['GatewayConfig/gateway', 'InferenceBackend/mine'])
    api.apply(backend('later', 'https://c.example.com/v1'))
    api.apply(backend('later-theirs', 'https://d.example.com/v1', {}, 'other-team'))
    await eventually(() => names(ctl!).includes('InferenceBackend/later'))
    expect(names(ctl)).not.toContain('InferenceBackend/later-theirs')
    expect(api.requests.filter((r) => r.path.startsWith('/apis/gateway.kortex.io')).every((r) => r.path.includes('/namespaces/apps/'))).toBe(true)
  })

  it('restarts an informer after an error other than 410, and counts it', async () => {
    api.apply(gatewayConfig())
    ctl = new KortexController({ kc: kubeConfigFor(api.url), tokens: [], debounceMs: 10, log: () => {}, informerRestartMs: 20, kserve: false })
    await ctl.start()
    await eventually(() => api.openWatches >= 4, 5000, 'watches open')
    api.failWatches = 4
    api.dropWatches()
    api.apply(backend('late', 'https://late.example.com/v1'))
    await eventually(() => names(ctl!).includes('InferenceBackend/late'))
    expect(ctl.metrics.render()).toMatch(/kortex_controller_watch_restarts_total\{resource="[a-z]+"\} [1-9]/)
  })

  it('two replicas: both serve the same config version, only the Lease holder writes status; the other takes over', async () => {
    api.apply(gatewayConfig())
    api.apply(backend('a', 'https://a.example.com/v1'))
    api.apply(route('chat', { models: ['chat'], defaultBackend: { name: 'a' } }))
    const make = (identity: string) =>
      new KortexController({ kc: kubeConfigFor(api.url), tokens: [], debounceMs: 10, log: () => {}, kserve: false, leaderElection: { namespace: 'kortex', identity, retryMs: 50 } })
    const one = make('one')
    ctl = one
    await one.start()
    await eventually(() => one.leader)
    const two = make('two')
    await two.start()
    try {
      expect(two.snapshot!.version).toBe(one.snapshot!.version)
      await eventually(() => condition(PATHS.routes, 'chat', 'Ready')?.status === 'True')
      expect(two.leader).toBe(false)
      expect(two.metrics.get('kortex_controller_status_patches_total', { result: 'ok' })).toBeUndefined()
      // The leader goes away: the other replica takes the Lease and writes status from then on.
      await one.stop()
      ctl = two
      await eventually(() => two.leader)
      api.apply(route('chat', { models: ['chat'], defaultBackend: { name: 'missing' } }))
      await eventually(() => condition(PATHS.routes, 'chat', 'ResolvedRefs')?.reason === 'BackendNotFound')
      expect(two.metrics.get('kortex_controller_status_patches_total', { result: 'ok' })).toBeGreaterThan(0)
    } finally {
      await two.stop()
      ctl = undefined
    }
  })

  it('the last accepted generation survives a restart and is the same on every replica: it lives in the resource\'s status, exactly as accepted', async () => {
    api.apply(gatewayConfig())
    api.apply(backend('a', 'https://a.example.com/v1'))
    api.apply(route('chat', { models: ['chat'], defaultBackend: { name: 'a' } }))
    const make = () => new KortexController({ kc: kubeConfigFor(api.url), tokens: [], debounceMs: 10, log: () => {}, kserve: false })
    const first = make()
    ctl = first
    await first.start()
    await eventually(() => condition(PATHS.routes, 'chat', 'Ready')?.status === 'True') // written with the accepted generation
    // Generation 2 is valid and shaped differently (no defaultBackend): what is kept is it exactly, not a mix of 1 and 2.
    api.apply(route('chat', { models: ['chat'], rules: [{ backends: [{ name: 'a', weight: 100 }] }] }))
    await eventually(() => condition(PATHS.routes, 'chat', 'Ready')?.observedGeneration === 2 && condition(PATHS.routes, 'chat', 'Ready')?.status === 'True')
    // Generation 3 passes the CRD schema but not the gateway: an invalid regular expression.
    api.apply(route('chat', { models: ['chat'], rules: [{ match: { headers: { 'x-tier': { regex: '([a-z' } } }, backends: [{ name: 'a' }] }] }))
    await eventually(() => condition(PATHS.routes, 'chat', 'Ready')?.reason === 'ServingPreviousGeneration')
    const served = first.snapshot!.version
    await first.stop()
    // A new controller process, and a second replica beside it: both serve generation 1, and say so.
    const [restarted, replica] = [make(), make()]
    ctl = restarted
    await restarted.start()
    await replica.start()
    try {
      expect(names(restarted)).toContain('InferenceRoute/chat')
      expect(restarted.snapshot!.version).toBe(served)
      expect(replica.snapshot!.version).toBe(served)
      const chat = restarted.snapshot!.document.resources.find((r: any) => r.kind === 'InferenceRoute' && r.metadata.name === 'chat') as any
      expect(chat.spec).toEqual({ models: ['chat'], rules: [{ backends: [{ name: 'a', weight: 100 }] }] })
      const ready = restarted.snapshot!.statuses.get('InferenceRoute/apps/chat')!.conditions.find((c) => c.type === 'Ready')!
      expect(ready).toMatchObject({ status: 'False', reason: 'ServingPreviousGeneration', observedGeneration: 3 })
      expect(ready.message).toContain('generation 2')
    } finally {
      await replica.stop()
    }
  })

  it('the old operator\'s group (opt-in): its resources serve as written, its status is written there, and a name in both groups goes to gateway.kortex.io', async () => {
    const OLD = 'gateway.inference-gateway.io/v1alpha1'
    const OLD_ROUTES = '/apis/gateway.inference-gateway.io/v1alpha1/inferenceroutes'
    api.apply(gatewayConfig())
    api.apply({ apiVersion: OLD, kind: 'InferenceBackend', metadata: { name: 'legacy-gpt', namespace: 'apps' }, spec: { type: 'External', external: { url: 'https://api.openai.com/v1', provider: 'OpenAI' } } })
    api.apply({ apiVersion: OLD, kind: 'InferenceRoute', metadata: { name: 'legacy', namespace: 'apps' }, spec: { rules: [{ match: { modelPattern: 'gpt-*' }, backends: [{ name: 'legacy-gpt', weight: 100 }] }] } })
    api.apply({ apiVersion: OLD, kind: 'InferenceRoute', metadata: { name: 'both', namespace: 'apps' }, spec: { defaultBackend: { name: 'legacy-gpt' } } })
    api.apply(route('both', { models: ['both'], defaultBackend: { name: 'legacy-gpt' } }))
    ctl = new KortexController({ kc: kubeConfigFor(api.url), tokens: [], debounceMs: 10, log: () => {}, kserve: false, legacyGroup: true })
    await ctl.start()
    expect(names(ctl)).toEqual(['GatewayConfig/gateway', 'InferenceBackend/legacy-gpt', 'InferenceRoute/both', 'InferenceRoute/legacy'])
    expect(ctl.snapshot!.compiled.routes.find((r) => r.name === 'both')!.models).toEqual(['both']) // the gateway.kortex.io one
    await eventually(() => api.get(OLD_ROUTES, 'apps', 'legacy')?.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True')
    const dup = await eventually(() => api.get(OLD_ROUTES, 'apps', 'both')?.status?.conditions?.find((c: any) => c.type === 'ResolvedRefs' && c.status === 'False'))
    expect(dup.message).toContain('InferenceRoute apps/both is defined twice: also in gateway.kortex.io, which wins; delete this one from gateway.inference-gateway.io')
    expect(condition(PATHS.routes, 'both', 'Ready')?.status).toBe('True')
  })

  it('leader election: one holder of the Lease at a time; a stopped leader hands over', async () => {
    const kc = kubeConfigFor(api.url)
    const seen: string[] = []
    const a = new LeaderElector({ kc, namespace: 'kortex', name: 'kortex-controller', identity: 'a', retryMs: 50, onChange: (l) => seen.push(`a:${l}`) })
    const b = new LeaderElector({ kc, namespace: 'kortex', name: 'kortex-controller', identity: 'b', retryMs: 50, onChange: (l) => seen.push(`b:${l}`) })
    a.start()
    await eventually(() => a.leader)
    b.start()
    await new Promise((r) => setTimeout(r, 200))
    expect(b.leader).toBe(false)
    expect(api.get(PATHS.leases, 'kortex', 'kortex-controller')!.spec.holderIdentity).toBe('a')
    await a.stop()
    await eventually(() => b.leader)
    expect(api.get(PATHS.leases, 'kortex', 'kortex-controller')!.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 })
    await b.stop()
    expect(seen).toEqual(['a:true', 'a:false', 'b:true', 'b:false'])
  })

  it('leader election with clocks an hour apart: the Lease changes hands only after it goes unrenewed for a lease duration on the taker\'s own clock', async () => {
    const kc = kubeConfigFor(api.url)
    // Three replicas on one machine: each one's calls run with the system clock set to its own.
    const t = Date.now()
    const clock = { a: t, ahead: t + 3_600_000, behind: t - 3_600_000 }
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      const electors = Object.fromEntries(Object.keys(clock).map((identity) => [identity, new LeaderElector({ kc, namespace: 'kortex', name: 'skew', identity, leaseSeconds: 15, onChange: () => {} })]))
      const round = (identity: keyof typeof clock) => (vi.setSystemTime(clock[identity]), electors[identity]!.tryAcquireOrRenew())
      const pass = (ms: number) => Object.keys(clock).forEach((k) => (clock[k as keyof typeof clock] += ms))
      const holder = () => api.get(PATHS.leases, 'kortex', 'skew')!.spec.holderIdentity
      expect(await round('a')).toBe(true)
      // The replica an hour ahead sees a renewTime an hour old: it must not take the Lease a keeps renewing.
      for (let i = 0; i < 3; i++) {
        expect(await round('ahead')).toBe(false)
        expect(await round('behind')).toBe(false)
        pass(10_000)
        expect(await round('a')).toBe(true)
        expect(holder()).toBe('a')
      }
      // a dies without releasing. The replica an hour behind sees a renewTime an hour in its future, yet takes over
      // once 15 s pass on its own clock with no renewal; the other, having seen that, keeps out.
      expect(await round('behind')).toBe(false)
      expect(await round('ahead')).toBe(false)
      pass(15_000)
      expect(await round('behind')).toBe(true)
      expect(holder()).toBe('behind')
      pass(1_000)
      expect(await round('ahead')).toBe(false)
      expect(holder()).toBe('behind')
    } finally {
      vi.useRealTimers()
    }
  })
})
