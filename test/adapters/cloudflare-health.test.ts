// Health checks on the edge reach every isolate: the Cron runs in one
// isolate, its results go to the state object that holds the breaker board,
// and a request served by any other isolate of the Worker skips the backend
// that failed its probe (three Workers on one KortexState namespace stand in
// for three isolates, each with its own module instance).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Miniflare } from 'miniflare'
import { startOpenAIUpstream, type OpenAIUpstream } from '../upstreams/openai.ts'
import { buildWorker, workerOptions, type BuiltWorker } from './cloudflare-harness.ts'

const config = (up: OpenAIUpstream, failureThreshold = 1) => `
apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: edge }
spec: { auth: { open: true }, accessLog: false }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: good }
spec: { type: external, external: { url: "${up.base('ok')}", model: gpt-4o-mini } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: sick }
spec:
  type: external
  external: { url: "${up.base('503')}", model: gpt-4o-mini }
  healthCheck: { failureThreshold: ${failureThreshold} }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: probed }
spec:
  models: [probed]
  defaultBackend: { name: sick }
  fallback: { backends: [good] }
  failover: { initialBackoffMs: 0, maxBackoffMs: 0 }
`

let worker: BuiltWorker
let up: OpenAIUpstream
let mf: Miniflare
/** Two failed probes needed, each Cron in another isolate. */
let mf2: Miniflare
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const sickChats = () => up.requests.filter((r) => r.path === '/mode/503/v1/chat/completions').length

async function chat(isolate: string, on = mf) {
  const res = await on.dispatchFetch(`http://${isolate}.kortex.test/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'probed', messages: [{ role: 'user', content: 'hi' }] }),
  })
  await res.text()
  return { status: res.status, backend: res.headers.get('x-kortex-backend'), attempts: res.headers.get('x-kortex-attempts') }
}

beforeAll(async () => {
  worker = await buildWorker()
  up = await startOpenAIUpstream()
  const env = { KORTEX_CONFIG_YAML: config(up) }
  mf = new Miniflare({
    workers: [
      workerOptions(worker, 'cron', env),
      workerOptions(worker, 'warm', env, { state: 'cron' }),
      workerOptions(worker, 'fresh', env, { state: 'cron' }),
    ],
  })
  const twice = { KORTEX_CONFIG_YAML: config(up, 2) }
  mf2 = new Miniflare({
    workers: [workerOptions(worker, 'a', twice), workerOptions(worker, 'b', twice, { state: 'a' }), workerOptions(worker, 'c', twice, { state: 'a' })],
  })
})

afterAll(async () => {
  await mf?.dispose()
  await mf2?.dispose()
  await up?.close()
  await worker?.remove()
})

describe('health checks from the Cron, across isolates', () => {
  it('a backend the Cron found sick is skipped by isolates that did not run it', async () => {
    // Before any probe, every isolate tries the sick backend and fails over.
    expect(await chat('warm')).toEqual({ status: 200, backend: 'good', attempts: '2' })

    const cron = (await mf.getWorker('cron')) as unknown as { scheduled(o: { cron: string }): Promise<unknown> }
    await cron.scheduled({ cron: '* * * * *' })
    expect(up.requests.some((r) => r.path === '/mode/503/v1/models')).toBe(true)

    // An isolate whose first request comes after the Cron: straight to the good backend.
    const before = sickChats()
    expect(await chat('fresh')).toEqual({ status: 200, backend: 'good', attempts: '1' })
    expect(sickChats()).toBe(before)

    // One that was already serving learns it with the breaker board's background refresh (every 2 s).
    let warm = await chat('warm')
    for (let i = 0; i < 50 && warm.attempts !== '1'; i++) {
      await sleep(100)
      warm = await chat('warm')
    }
    expect(warm).toEqual({ status: 200, backend: 'good', attempts: '1' })
    const settled = sickChats()
    expect(await chat('warm')).toEqual({ status: 200, backend: 'good', attempts: '1' })
    expect(sickChats()).toBe(settled)
  })

  it('failures count on from Cron to Cron, whichever isolate each runs in', async () => {
    const cron = async (isolate: string) => ((await mf2.getWorker(isolate)) as unknown as { scheduled(o: { cron: string }): Promise<unknown> }).scheduled({ cron: '* * * * *' })
    expect(await chat('b', mf2)).toEqual({ status: 200, backend: 'good', attempts: '2' }) // b serving before any probe
    await cron('a') // one failed probe of two
    expect(await chat('a', mf2)).toEqual({ status: 200, backend: 'good', attempts: '2' })
    await cron('b') // the second, in another isolate
    expect(await chat('c', mf2)).toEqual({ status: 200, backend: 'good', attempts: '1' })
  })
})
