// Chaos through the real Node server: a fleet of OpenAI-wire upstreams
// that fail in every way (503s, hangs, resets, flakiness) and recover, in
// seeded random phases, for thousands of requests. While one backend is
// healthy every client request must succeed, never with more attempts than
// the route allows, and the breakers must open on the broken backends and
// close again on the recovered ones.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { readJson, startServer, type TestServer } from '../helpers/server.ts'
import { chatCompletion } from '../upstreams/openai.ts'
import { seeded } from '../helpers/seeded.ts'
import { startTestKortex, type TestKortex } from '../helpers/kortex.ts'
import { createUpstreamFetch } from '../../adapters/node/upstream-fetch.ts'

// Node's global fetch costs ~1 ms of CPU a call; thousands of requests go through undici's dispatcher instead.
const fetch = createUpstreamFetch()

type Mode = 'ok' | '503' | 'hang' | 'reset' | 'flaky'
const N = 4
const modes: Mode[] = Array(N).fill('ok')
/** Requests each upstream received. */
const calls: number[] = Array(N).fill(0)
const ups: TestServer[] = []
let k: TestKortex

const rand = seeded(20261130)

beforeAll(async () => {
  for (let i = 0; i < N; i++) {
    ups.push(
      await startServer(async (req, res) => {
        calls[i]!++
        const body = await readJson(req)
        const mode = modes[i]!
        const fail = mode === '503' || (mode === 'flaky' && Math.random() < 0.5)
        if (mode === 'hang') return // the gateway's attempt timeout ends it
        if (mode === 'reset') return req.socket.destroy()
        if (fail) {
          res.writeHead(503, { 'content-type': 'application/json' })
          return res.end(JSON.stringify({ error: { message: 'The engine is currently overloaded, please try again later', type: 'server_error', param: null, code: null } }))
        }
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify(chatCompletion(body.model, `from u${i}`)))
      }),
    )
  }
  const backends = ups.map(
    (u, i) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: u${i} }
spec:
  type: external
  external: { url: "${u.url}/v1", model: m }
  timeoutSeconds: 0.3
  circuitBreaker: { consecutiveFailures: 3, cooldownSeconds: 0.4, maxCooldownSeconds: 0.8, jitter: none }
`,
  )
  k = await startTestKortex(`apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { open: true }, accessLog: false }
${backends.join('')}---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: chaos }
spec:
  models: [chaos]
  rules:
    - backends: [{ name: u0 }, { name: u1 }, { name: u2 }, { name: u3 }]
  failover: { chain: [u0, u1, u2, u3], maxRetries: 0 }
`)
})

afterAll(async () => {
  await k?.close()
  for (const u of ups) await u.close()
})

async function status(): Promise<Record<string, { breaker: { state: string; trips: number }; requests: number; failures: number }>> {
  const s = (await (await fetch(`${k.url}/v1/status`)).json()) as any
  return Object.fromEntries(s.backends.map((b: any) => [b.name, b]))
}

/** `total` requests, `concurrency` at a time; every one must be a 200 within the attempt bound. */
async function load(total: number, concurrency = 16) {
  let next = 0
  const served: Record<string, number> = {}
  const worker = async () => {
    while (next < total) {
      next++
      const res = await fetch(`${k.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'chaos', messages: [{ role: 'user', content: 'hi' }] }),
      })
      const body = await res.text()
      if (res.status !== 200) throw new Error(`request failed while a backend was healthy: ${res.status} ${body}`)
      const attempts = Number(res.headers.get('x-kortex-attempts'))
      expect(attempts).toBeGreaterThanOrEqual(1)
      expect(attempts).toBeLessThanOrEqual(N) // one per backend: maxRetries is 0
      const b = res.headers.get('x-kortex-backend')!
      served[b] = (served[b] ?? 0) + 1
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return served
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

it('every request succeeds while some backend is healthy; breakers open and close as the fleet changes', async () => {
  const failing: Mode[] = ['503', 'hang', 'reset', 'flaky']
  let total = 0
  for (let phase = 0; phase < 6; phase++) {
    // Break one to three backends, never all: the healthy one is picked at random too.
    const healthy = Math.floor(rand() * N)
    const broken = new Set<number>()
    const count = 1 + Math.floor(rand() * 3)
    while (broken.size < count) {
      const i = Math.floor(rand() * N)
      if (i !== healthy) broken.add(i)
    }
    for (let i = 0; i < N; i++) modes[i] = broken.has(i) ? failing[Math.floor(rand() * failing.length)]! : 'ok'
    const before = await status()
    const callsBefore = [...calls]
    await load(450)
    total += 450
    const during = await status()
    for (const i of broken) {
      const name = `u${i}`
      // A backend that always fails trips its breaker, and then gets almost no traffic: without
      // one it would see a quarter of the requests (112+) as first choice, more as a fallback.
      if (modes[i] !== 'flaky') {
        expect(during[name]!.breaker.trips, `${name} (${modes[i]}) in phase ${phase}`).toBeGreaterThan(before[name]!.breaker.trips)
        expect(calls[i]! - callsBefore[i]!, `${name} (${modes[i]}) calls in phase ${phase}`).toBeLessThan(45)
      }
    }
    // Everyone recovers; after the longest cooldown the half-open probes close every breaker.
    modes.fill('ok')
    await sleep(900)
    const recovered = await load(150)
    total += 150
    const after = await status()
    for (let i = 0; i < N; i++) {
      expect(after[`u${i}`]!.breaker.state, `u${i} after phase ${phase}`).toBe('closed')
      expect(recovered[`u${i}`] ?? 0, `u${i} serves again after phase ${phase}`).toBeGreaterThan(0)
    }
  }
  expect(total).toBe(3600)
}, 120_000)
