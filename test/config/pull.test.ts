// Pulling config from the controller: ETag and 304, the document's own
// secrets, a bad document never applied (the last good one stays), and
// backoff with jitter after failures.
import { createServer, type Socket } from 'node:net'
import { describe, expect, it, vi } from 'vitest'
import { ConfigPuller, type ConfigDocument } from '../../src/config/pull.ts'

const resources = (backendUrl: string) => [
  { apiVersion: 'gateway.kortex.io/v1alpha1', kind: 'GatewayConfig', metadata: { name: 'g' }, spec: { auth: { open: true } } },
  { apiVersion: 'gateway.kortex.io/v1alpha1', kind: 'InferenceBackend', metadata: { name: 'gpt' }, spec: { type: 'external', external: { url: backendUrl, apiKeySecret: { name: 'openai', key: 'key' } } } },
  { apiVersion: 'gateway.kortex.io/v1alpha1', kind: 'InferenceRoute', metadata: { name: 'r' }, spec: { defaultBackend: { name: 'gpt' } } },
]

function controller() {
  let doc: ConfigDocument = { kind: 'KortexConfig', version: 'v1', resources: resources('https://api.openai.com/v1'), secrets: { 'default/openai/key': 'test-from-the-cluster' } }
  const seen: Array<{ url: string; headers: Record<string, string> }> = []
  let fail = false
  const fetch = async (input: string | URL | Request, init?: RequestInit) => {
    const headers = init?.headers as Record<string, string>
    seen.push({ url: String(input), headers })
    if (fail) return new Response('boom', { status: 500 })
    if (headers['if-none-match'] === `"${doc.version}"`) return new Response(null, { status: 304 })
    return Response.json(doc, { headers: { etag: `"${doc.version}"` } })
  }
  return { fetch, seen, set: (d: ConfigDocument) => (doc = d), fail: (f: boolean) => (fail = f) }
}

describe('ConfigPuller', () => {
  it('applies a new version, keeps it on 304, and sends the token and ETag', async () => {
    const c = controller()
    const versions: string[] = []
    const p = new ConfigPuller({ url: 'http://controller.test/config', token: 'ctl-token', fetch: c.fetch, secrets: () => undefined, waitSeconds: 30, onUpdate: (_, v) => versions.push(v) })
    expect(await p.pullOnce()).toBe('updated')
    const first = p.current()!
    expect(first.backends.get('default/gpt')!.apiKey).toBe('test-from-the-cluster')
    expect(await p.pullOnce()).toBe('unchanged')
    expect(p.current()).toBe(first)
    expect(c.seen[1]!.headers).toMatchObject({ authorization: 'Bearer ctl-token', 'if-none-match': '"v1"' })
    expect(c.seen[1]!.url).toBe('http://controller.test/config?wait=30') // a long poll once there is something to compare
    c.set({ kind: 'KortexConfig', version: 'v2', resources: resources('https://other.example.com/v1'), secrets: { 'default/openai/key': 'test-2' } })
    expect(await p.pullOnce()).toBe('updated')
    expect(p.current()!.backends.get('default/gpt')!.baseUrl).toBe('https://other.example.com/v1')
    expect(versions).toEqual(['v1', 'v2'])
  })

  it('never applies an invalid document or a failed pull: the last good config stays', async () => {
    const c = controller()
    const errors: string[] = []
    const p = new ConfigPuller({ url: 'http://controller.test/config', fetch: c.fetch, secrets: () => undefined, onError: (e) => errors.push(String(e)) })
    await p.pullOnce()
    const good = p.current()
    c.set({ kind: 'KortexConfig', version: 'bad', resources: [{ apiVersion: 'gateway.kortex.io/v1alpha1', kind: 'InferenceRoute', metadata: { name: 'r' }, spec: { defaultBackend: { name: 'missing' } } }] })
    expect(await p.pullOnce()).toBe('failed')
    expect(p.current()).toBe(good)
    expect(errors[0]).toContain('backend "missing" is not defined')
    c.fail(true)
    expect(await p.pullOnce()).toBe('failed')
    expect(p.current()).toBe(good)
    expect(p.version).toBe('v1')
    expect(errors[1]).toBe('Error: the controller answered HTTP 500: boom') // its body says why
  })

  it('a backend\'s key comes only from the document, keyed by its namespace; never from this runtime\'s environment', async () => {
    const env: Record<string, string> = { KORTEX_CONFIG_TOKEN: 'ctl-token', OPENAI_KEY: 'test-env', ADMIN_KEY: 'kx-admin' }
    const c = controller()
    const doc = (secrets: Record<string, string>): ConfigDocument => ({
      kind: 'KortexConfig',
      version: JSON.stringify(secrets),
      resources: [
        { apiVersion: 'gateway.kortex.io/v1alpha1', kind: 'GatewayConfig', metadata: { name: 'g', namespace: 'kortex' }, spec: { auth: { keys: [{ name: 'admin', keyEnv: 'ADMIN_KEY' }] } } },
        { apiVersion: 'gateway.kortex.io/v1alpha1', kind: 'InferenceBackend', metadata: { name: 'grab', namespace: 'z-tenant' }, spec: { type: 'external', external: { url: 'https://evil.example.com/v1', apiKeySecret: { name: 'kortex-config', key: 'token' } } } },
        { apiVersion: 'gateway.kortex.io/v1alpha1', kind: 'InferenceBackend', metadata: { name: 'gpt', namespace: 'z-tenant' }, spec: { type: 'external', external: { url: 'https://api.openai.com/v1', apiKeySecret: { name: 'openai', key: 'key' } } } },
      ],
      secrets,
    })
    c.set(doc({ 'kortex/kortex-config/token': 'ctl-token', 'kortex/openai/key': 'test-platform' }))
    const p = new ConfigPuller({ url: 'http://controller.test/config', fetch: c.fetch, secrets: (n) => env[n] })
    expect(await p.pullOnce()).toBe('updated')
    const grab = p.current()!.backends.get('z-tenant/grab')!
    expect(grab.apiKey).toBeUndefined() // not the environment's KORTEX_CONFIG_TOKEN, not the kortex namespace's Secret
    expect(grab.missingSecret).toBe('Secret z-tenant/kortex-config key "token"')
    expect(p.current()!.backends.get('z-tenant/gpt')!.apiKey).toBeUndefined()
    c.set(doc({ 'z-tenant/openai/key': 'test-z-tenant' }))
    expect(await p.pullOnce()).toBe('updated')
    expect(p.current()!.backends.get('z-tenant/gpt')!.apiKey).toBe('test-z-tenant')
    // The gateway's own settings still read its environment.
    expect(p.current()!.keys.size).toBe(1)
  })

  it('never applies a document that drops every route, backend or the GatewayConfig, unless it says the drop is meant', async () => {
    const c = controller()
    const errors: string[] = []
    const p = new ConfigPuller({ url: 'http://controller.test/config', fetch: c.fetch, secrets: () => undefined, onError: (e) => errors.push(String(e)) })
    await p.pullOnce()
    const good = p.current()
    const [gateway, backend, route] = resources('https://api.openai.com/v1')
    const tries: Array<[string, unknown[]]> = [
      ['empty', []],
      ['no-routes', [gateway, backend]],
      ['no-gateway', [backend, route]],
    ]
    for (const [version, rs] of tries) {
      c.set({ kind: 'KortexConfig', version, resources: rs })
      expect(await p.pullOnce()).toBe('failed')
      expect(p.current()).toBe(good) // the tenant's route keeps being served
    }
    expect(errors.join('\n')).toContain('drop every InferenceRoute')
    expect(errors.join('\n')).toContain('drop the GatewayConfig')
    expect(errors.join('\n')).toContain('kortex.io/allow-empty')
    const meant = { ...gateway!, metadata: { name: 'g', annotations: { 'kortex.io/allow-empty': 'true' } } }
    c.set({ kind: 'KortexConfig', version: 'meant', resources: [meant] })
    expect(await p.pullOnce()).toBe('updated')
    expect(p.current()!.routes).toEqual([])
  })

  it('backs off exponentially with jitter after failures, capped', async () => {
    const c = controller()
    c.fail(true)
    const p = new ConfigPuller({ url: 'http://controller.test/config', fetch: c.fetch, secrets: () => undefined, intervalMs: 1000, maxBackoffMs: 8000, random: () => 1 })
    const delays: number[] = []
    for (let i = 0; i < 6; i++) delays.push(p.delayAfter(await p.pullOnce()))
    expect(delays).toEqual([1000, 2000, 4000, 8000, 8000, 8000])
    const low = new ConfigPuller({ url: 'http://controller.test/config', fetch: c.fetch, secrets: () => undefined, intervalMs: 1000, random: () => 0 })
    expect(low.delayAfter(await low.pullOnce())).toBe(500) // jitter spreads over [cap/2, cap]
  })

  it('a controller that stops answering without closing the connection: the pull fails at its deadline (the long poll window plus a margin) and the config stays', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const c = controller()
      let hang = false
      const fetch = (input: string | URL | Request, init?: RequestInit) =>
        hang ? new Promise<Response>((_, reject) => init!.signal!.addEventListener('abort', () => reject(init!.signal!.reason))) : c.fetch(input, init)
      const errors: string[] = []
      const p = new ConfigPuller({ url: 'http://controller.test/config', fetch, secrets: () => undefined, waitSeconds: 30, onError: (e) => errors.push(String(e)) })
      expect(await p.pullOnce()).toBe('updated')
      hang = true
      const longPoll = p.pullOnce()
      await vi.advanceTimersByTimeAsync(30_000 + 10_000)
      expect(await longPoll).toBe('failed')
      expect(errors).toEqual(['Error: the controller did not answer within 40 s'])
      expect(p.version).toBe('v1')
      // No long poll before the first config: a plain deadline.
      const fresh = new ConfigPuller({ url: 'http://controller.test/config', fetch, secrets: () => undefined, waitSeconds: 30, onError: (e) => errors.push(String(e)) })
      const first = fresh.pullOnce()
      await vi.advanceTimersByTimeAsync(10_000)
      expect(await first).toBe('failed')
      expect(errors[1]).toBe('Error: the controller did not answer within 10 s')
    } finally {
      vi.useRealTimers()
    }
  })

  it('with Node\'s fetch: a silent connection is given up at the deadline, and a refused one is reported with its cause, not just "fetch failed"', async () => {
    const sockets: Socket[] = []
    const silent = createServer((s) => sockets.push(s)) // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
    const errors: string[] = []
    const at = (port: number) => new ConfigPuller({ url: `http://127.0.0.1:${port}/config`, fetch: (i, init) => fetch(i, init), secrets: () => undefined, timeoutMs: 200, onError: (e) => errors.push((e as Error).message) })
    expect(await at((silent.address() as { port: number }).port).pullOnce()).toBe('failed')
    expect(errors[0]).toBe('the controller did not answer within 0.2 s')
    const closed = (silent.address() as { port: number }).port
    for (const s of sockets) s.destroy()
    await new Promise((r) => silent.close(r))
    expect(await at(closed).pullOnce()).toBe('failed')
    expect(errors[1]).toBe(`fetch failed: connect ECONNREFUSED 127.0.0.1:${closed}`)
  })
})
