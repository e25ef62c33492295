// Durable Object calls on the hot path, counted: the Worker's gateway over
// DurableObjectStore, its objects played by in-memory stores behind a fake
// namespace (each also runs the real coordinator, ShardCoordinator, which
// reaches the other objects through a namespace of its own, counted apart).
// None when no limit applies; one (admit) for a route's request and token
// limits together, since one scope's limits live in one object; one
// (admitAcross) for limits of scopes in different objects, the object
// called asking the others. The shared breaker board is read in the
// background only.
import { describe, expect, it } from 'vitest'
import { createGateway } from '../../src/app.ts'
import { buildConfig } from '../../src/config/source.ts'
import { MemoryStore } from '../../src/state/memory.ts'
import { silentLogger } from '../../src/telemetry/log.ts'
import { keyedGateway } from '../helpers/fake-fleet.ts'
import { DurableObjectStore, ShardCoordinator, shardOf, shardTag, type StateNamespace } from '../../adapters/cloudflare/do-store.ts'

/** The echo backend, a route (and model) `limited` under `rateLimit`, and one named `open` under none. */
const routes = (rateLimit: string, open: string) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: echo }
spec: { type: demo }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: limited }
spec: { models: [limited], defaultBackend: { name: echo }, costTracking: false, rateLimit: ${rateLimit} }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: ${open} }
spec: { models: [${open}], defaultBackend: { name: echo }, costTracking: false }
`

const yaml = `
apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { open: true }, accessLog: false }
${routes('{ requestsPerMinute: 100, tokensPerMinute: 100000 }', 'free')}`

/**
 * `ns` is the Worker's binding, its calls in `calls`; the objects reach each
 * other through `inner`, their calls in `innerCalls`. An object calling
 * itself would go through `inner` too: the coordinator must not.
 */
function fakeNamespace() {
  const calls: string[] = []
  const innerCalls: string[] = []
  const objects = new Map<string, MemoryStore>()
  const coordinators = new Map<string, ShardCoordinator>()
  const view = (log: string[]): StateNamespace => ({
    idFromName: (name: string) => name,
    get: (id: string) => {
      let o = objects.get(id)
      if (!o) {
        objects.set(id, (o = new MemoryStore()))
        coordinators.set(id, new ShardCoordinator(() => inner, o))
      }
      const obj = o
      const coord = coordinators.get(id)!
      return new Proxy({}, {
        get: (_t, method: string) => (...args: unknown[]) => {
          log.push(method)
          return method === 'admitAcross' || method === 'settleAcross' ? (coord as any)[method](...args) : (obj as any)[method](...args)
        },
      })
    },
  })
  const inner = view(innerCalls)
  return { ns: view(calls), calls, innerCalls, objects }
}

describe('Durable Object calls per request', () => {
  it("keeps one scope's limits in one object", () => {
    expect(shardTag('rl:route:default/chat:rpm')).toBe('route:default/chat')
    expect(shardTag('rl:route:default/chat:u:alice:tpm')).toBe('route:default/chat:u:alice')
    expect(shardTag('bg:team:ml:2026-11')).toBe('team:ml')
    expect(shardTag('spend:2026-11-30')).toBe('spend:2026-11-30')
    for (const n of [2, 16, 64]) expect(shardOf('rl:route:default/chat:rpm', n)).toBe(shardOf('rl:route:default/chat:tpm', n))
    // And different scopes spread out.
    const spread = new Set(Array.from({ length: 64 }, (_, i) => shardOf(`rl:route:default/r${i}:rpm`, 16)))
    expect(spread.size).toBeGreaterThan(8)
  })

  it('none when no limit applies, one admit when a route has request and token limits', async () => {
    const { ns, calls } = fakeNamespace()
    const config = await buildConfig(yaml, () => undefined)
    const gateway = createGateway({ config: () => config, fetch, log: silentLogger, store: new DurableObjectStore(ns) })
    const background: Promise<unknown>[] = []
    const ctx = { waitUntil: (p: Promise<unknown>) => void background.push(p) }
    const ask = (model: string) => gateway.fetch(new Request('http://kortex/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) }), ctx)

    // The shared breaker board is pulled in the background (waitUntil), at most every 2 s: never waited on.
    const board = (c: string) => c === 'openBreakers' || c === 'tripBreaker'
    const free = await ask('free')
    expect(free.status).toBe(200)
    expect(calls.filter((c) => !board(c))).toEqual([]) // not one call on the hot path
    await free.text()
    await Promise.all(background)
    expect(calls).toEqual(['openBreakers']) // after it: the board only (no limit to settle, no cost tracking, no experiment)

    const limited = await ask('limited')
    expect(limited.status).toBe(200)
    expect(limited.headers.get('x-ratelimit-limit-requests')).toBe('100')
    // The settlement may already have started (the demo answers at once), but only through waitUntil: the response waits on admit alone.
    expect(calls.filter((c) => c !== 'settle' && !board(c))).toEqual(['admit'])
    await limited.text()
    await Promise.all(background)
    // The token reservation is settled to actual usage afterwards, in the background: one more call, to the same object.
    // And the board was not pulled again within 2 s.
    expect(calls).toEqual(['openBreakers', 'admit', 'settle'])
  })
})

const keyedYaml = `${keyedGateway([
  '{ name: capped, key: kx-capped-key-0001, limits: { requestsPerHour: 1, tokensPerMinute: 1000000 } }',
  '{ name: tight, key: kx-tight-key-00001, limits: { requestsPerHour: 1 } }',
  '{ name: solo, key: kx-solo-key-000001 }',
])}${routes('{ requestsPerHour: 3, tokensPerMinute: 100000 }', 'side')}`

describe('Durable Object calls when a request falls under limits of two scopes', () => {
  it('one call from the Worker (admitAcross), all or nothing: a refusal by either scope takes nothing from the other', async () => {
    // The route's limits and each key's live in different objects.
    const route = shardOf('rl:route:default/limited:requestsPerHour', 16)
    expect(shardOf('rl:key:capped:requestsPerHour', 16)).not.toBe(route)
    expect(shardOf('rl:key:tight:requestsPerHour', 16)).not.toBe(route)

    const { ns, calls, innerCalls } = fakeNamespace()
    const config = await buildConfig(keyedYaml, () => undefined)
    const gateway = createGateway({ config: () => config, fetch, log: silentLogger, store: new DurableObjectStore(ns) })
    const background: Promise<unknown>[] = []
    const ctx = { waitUntil: (p: Promise<unknown>) => void background.push(p) }
    const board = (c: string) => c === 'openBreakers' || c === 'tripBreaker'
    const after = (c: string) => board(c) || c.startsWith('settle')
    /** One request: its response, the Worker's calls before the response (settlement and board aside), then all of its calls and the objects' among themselves. */
    const ask = async (key: string, model: string) => {
      calls.length = 0
      innerCalls.length = 0
      const res = await gateway.fetch(
        new Request('http://kortex/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) }),
        ctx,
      )
      const hot = calls.filter((c) => !after(c))
      const body = await res.text()
      await Promise.all(background)
      return { res, body, hot, calls: calls.filter((c) => !board(c)), inner: [...innerCalls] }
    }

    // The route's and the key's request and token limits: one call; the route's object asks the key's.
    const first = await ask('kx-capped-key-0001', 'limited')
    expect(first.res.status).toBe(200)
    expect(first.hot).toEqual(['admitAcross'])
    // Both token reservations are settled afterwards, in one call too.
    expect(first.calls).toEqual(['admitAcross', 'settleAcross'])
    expect(first.inner).toEqual(['admit', 'settle'])

    // The key's limit refuses: still one call; the route's object gives back its own part.
    const byKey = await ask('kx-capped-key-0001', 'limited')
    expect(byKey.res.status).toBe(429)
    expect(byKey.body).toContain("API key 'capped'")
    expect(byKey.calls).toEqual(['admitAcross'])
    expect(byKey.inner).toEqual(['admit'])
    // So the route has 2 of its 3 left: a key without limits of its own takes them, one call each (one object).
    for (const left of ['1', '0']) {
      const r = await ask('kx-solo-key-000001', 'limited')
      expect(r.res.status).toBe(200)
      expect(r.res.headers.get('x-ratelimit-remaining-requests')).toBe(left)
      expect(r.hot).toEqual(['admit'])
    }

    // The route's limit refuses: the key's object, which admitted its part, is told to give it back.
    const byRoute = await ask('kx-tight-key-00001', 'limited')
    expect(byRoute.res.status).toBe(429)
    expect(byRoute.body).toContain("route 'limited'")
    expect(byRoute.calls).toEqual(['admitAcross'])
    expect(byRoute.inner).toEqual(['admit', 'settle'])
    // So the key's one request an hour is still there, on a route without a limit.
    const side = await ask('kx-tight-key-00001', 'side')
    expect(side.res.status).toBe(200)
    expect(side.hot).toEqual(['admit'])
    expect((await ask('kx-tight-key-00001', 'side')).res.status).toBe(429)
  })
})

describe('Hashes every request adds to', () => {
  it('spread over several objects, and read back as one exact sum', async () => {
    const { ns, objects } = fakeNamespace()
    const store = new DurableObjectStore(ns, { shards: 16, spread: 8 })
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.addFields('spend:2026-11-30', { 'team|ml|USD|cost': 5, 'team|ml|USD|requests': 1, odd: i % 2 }, 86_400)))
    const parts = await Promise.all([...objects.values()].map((o) => o.readFields('spend:2026-11-30')))
    expect(parts.filter((p) => Object.keys(p).length > 0).length).toBeGreaterThan(2)
    expect(await store.readFields('spend:2026-11-30')).toEqual({ 'team|ml|USD|cost': 1000, 'team|ml|USD|requests': 200, odd: 100 })
    // Experiment variants too; other hashes stay in one object.
    await Promise.all(Array.from({ length: 50 }, () => store.addFields('exp:default/e1:v:a', { n: 1 })))
    expect(await store.readFields('exp:default/e1:v:a')).toEqual({ n: 50 })
    const before = objects.size
    await Promise.all(Array.from({ length: 50 }, () => store.addFields('exp:default/e1:start-ish', { n: 1 })))
    const single = await Promise.all([...objects.values()].map((o) => o.readFields('exp:default/e1:start-ish')))
    expect(single.filter((p) => p.n === 50)).toHaveLength(1)
    expect(objects.size).toBeLessThanOrEqual(before + 1)
  })
})
