// The Workers entry in workerd: bundles adapters/cloudflare/worker.ts as
// wrangler would (no Node built-ins, no nodejs_compat), starts it through
// miniflare and completes chat requests against the demo backend and a
// local OpenAI-speaking upstream. Keeps the core honest about needing only
// Web APIs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Miniflare } from 'miniflare'
import { readJson, startServer, type TestServer } from '../helpers/server.ts'
import { buildWorker, workerOptions, type BuiltWorker } from './cloudflare-harness.ts'
const CLIENT_KEY = 'kx-client-key-0123456789'
const PROVIDER_KEY = 'test-test'

// A minimal upstream that answers like api.openai.com: chat.completion JSON,
// or the chunk stream ending in `data: [DONE]`.
interface Seen {
  url: string
  headers: IncomingMessage['headers']
  body: any
}
const seen: Seen[] = []
const completion = (model: string, content: string) => ({
  id: 'chatcmpl-edge-1',
  object: 'chat.completion',
  created: 1741570283,
  model,
  choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
  usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 },
  system_fingerprint: 'fp_edge',
})
const chunk = (model: string, delta: object, finish: string | null) => ({
  id: 'chatcmpl-edge-2',
  object: 'chat.completion.chunk',
  created: 1741570283,
  model,
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
})
async function upstreamHandler(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJson(req)
  seen.push({ url: req.url ?? '', headers: req.headers, body })
  if (req.url !== '/v1/chat/completions') {
    res.writeHead(404, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ error: { message: `Invalid URL (POST ${req.url})`, type: 'invalid_request_error', param: null, code: null } }))
    return
  }
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify(completion(body.model, 'Hello from the edge')))
    return
  }
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' })
  res.write(`data: ${JSON.stringify(chunk(body.model, { role: 'assistant', content: '' }, null))}\n\n`)
  for (const w of ['Hello', ' from', ' the edge']) res.write(`data: ${JSON.stringify(chunk(body.model, { content: w }, null))}\n\n`)
  res.write(`data: ${JSON.stringify(chunk(body.model, {}, 'stop'))}\n\n`)
  res.write('data: [DONE]\n\n')
  res.end()
}

const upstreamConfig = (url: string) => `
apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: edge }
spec:
  auth:
    keys:
      - { name: tester, keyEnv: KORTEX_CLIENT_KEY }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: openai-upstream }
spec:
  type: external
  external:
    url: ${url}/v1
    provider: openai
    apiKeySecret: { name: openai-credentials, key: api-key }
    model: gpt-4o-mini-2024-07-18
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: chat }
spec:
  models: [gpt-4o-mini]
  defaultBackend: { name: openai-upstream }
`

const BROKEN_CONFIG = `
apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: broken }
spec:
  auth:
    keys:
      - { name: tester, key: kx-do-not-echo-this-key }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: upstream }
spec:
  type: external
  external: { url: "not a url" }
  timeoutSeconds: -1
`

const chat = (model: string, stream = false) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` },
  body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hello workerd' }] }),
})

/** Reads an SSE body to `data: [DONE]`, returning the JSON events before it. */
async function readSse(res: { text(): Promise<string> }): Promise<any[]> {
  const text = await res.text()
  const data = text
    .split(/\r?\n\r?\n/)
    .map((ev) => ev.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n'))
    .filter(Boolean)
  expect(data.at(-1)).toBe('[DONE]')
  return data.slice(0, -1).map((d) => JSON.parse(d))
}

let worker: BuiltWorker
let mf: Miniflare
let upstream: TestServer
const figures: Record<string, number> = {}

// One workerd process, one Worker per config, each on its own host name.
const url = (worker: 'demo' | 'upstream' | 'broken', path: string) => `http://${worker}.kortex.test${path}`

beforeAll(async () => {
  worker = await buildWorker()
  figures.bundleBytes = worker.bytes
  figures.bundleGzipBytes = worker.gzipBytes

  upstream = await startServer(upstreamHandler)
  const started = performance.now()
  mf = new Miniflare({
    workers: [
      workerOptions(worker, 'demo', {}, { state: false }),
      workerOptions(worker, 'upstream', { KORTEX_CONFIG: upstreamConfig(upstream.url), OPENAI_CREDENTIALS_API_KEY: PROVIDER_KEY, KORTEX_CLIENT_KEY: CLIENT_KEY }, { state: false }),
      workerOptions(worker, 'broken', { KORTEX_CONFIG: BROKEN_CONFIG }, { state: false }),
    ],
  })
  const first = await mf.dispatchFetch(url('demo', '/healthz'))
  await first.text()
  figures.startToFirstResponseMs = Math.round(performance.now() - started)
  console.log(`cloudflare worker: ${JSON.stringify(figures)}`)
})

afterAll(async () => {
  await mf?.dispose()
  await upstream?.close()
  await worker?.remove()
})

describe('Workers entry in workerd (miniflare)', () => {
  it('bundles without Node built-ins to a modest size', () => {
    expect(figures.bundleBytes).toBeGreaterThan(0)
    // The tokenizer's tables are static assets, not script (cloudflare-tokens.test.ts holds the 300 KiB gzipped line).
    expect(figures.bundleBytes).toBeLessThan(2 * 1024 * 1024)
  })

  it('serves the embedded demo config without KORTEX_CONFIG', async () => {
    const res = await mf.dispatchFetch(url('demo', '/v1/chat/completions'), chat('kortex-demo'))
    expect(res.status).toBe(200)
    expect(res.headers.get('x-kortex-backend')).toBe('kortex-demo')
    const body = (await res.json()) as any
    expect(body.object).toBe('chat.completion')
    expect(body.choices[0].message.content).toContain('hello workerd')
    expect(body.usage.total_tokens).toBeGreaterThan(0)
  })

  it('streams from the demo backend to data: [DONE]', async () => {
    const res = await mf.dispatchFetch(url('demo', '/v1/chat/completions'), chat('kortex-demo', true))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const events = await readSse(res)
    expect(events.every((e) => e.object === 'chat.completion.chunk')).toBe(true)
    const text = events.map((e) => e.choices[0]?.delta?.content ?? '').join('')
    expect(text).toContain('hello workerd')
    expect(events.some((e) => e.choices[0]?.finish_reason === 'stop')).toBe(true)
  })

  it('completes a chat request against an OpenAI upstream with the key from a secret binding', async () => {
    seen.length = 0
    const res = await mf.dispatchFetch(url('upstream', '/v1/chat/completions'), chat('gpt-4o-mini'))
    expect(res.status).toBe(200)
    expect(res.headers.get('x-kortex-backend')).toBe('openai-upstream')
    const body = (await res.json()) as any
    expect(body.choices[0].message.content).toBe('Hello from the edge')
    expect(seen).toHaveLength(1)
    expect(seen[0]!.url).toBe('/v1/chat/completions')
    expect(seen[0]!.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`)
    expect(JSON.stringify(seen[0]!.headers)).not.toContain(CLIENT_KEY)
    expect(seen[0]!.body.model).toBe('gpt-4o-mini-2024-07-18')
  })

  it('streams from the OpenAI upstream to data: [DONE]', async () => {
    seen.length = 0
    const res = await mf.dispatchFetch(url('upstream', '/v1/chat/completions'), chat('gpt-4o-mini', true))
    expect(res.status).toBe(200)
    expect(res.headers.get('x-kortex-backend')).toBe('openai-upstream')
    const events = await readSse(res)
    expect(events.map((e) => e.choices[0]?.delta?.content ?? '').join('')).toBe('Hello from the edge')
    expect(seen[0]!.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`)
  })

  it('still refuses a client without a gateway key', async () => {
    const res = await mf.dispatchFetch(url('upstream', '/v1/chat/completions'), { ...chat('gpt-4o-mini'), headers: { 'content-type': 'application/json' } })
    expect(res.status).toBe(401)
    expect(((await res.json()) as any).error.code).toBe('missing_api_key')
  })

  it('answers every request with a 503 OpenAI error naming the problems when KORTEX_CONFIG is broken', async () => {
    for (const path of ['/v1/chat/completions', '/healthz']) {
      const res = await mf.dispatchFetch(url('broken', path), path === '/healthz' ? {} : chat('gpt-4o-mini'))
      expect(res.status).toBe(503)
      expect(res.headers.get('content-type')).toBe('application/json')
      const body = (await res.json()) as any
      expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type'])
      expect(body.error.type).toBe('api_error')
      expect(body.error.code).toBe('config_invalid')
      expect(body.error.message).toContain('KORTEX_CONFIG')
      expect(body.error.message).toContain('spec.external.url')
      expect(body.error.message).toContain('spec.timeoutSeconds')
      expect(body.error.message).not.toContain('kx-do-not-echo-this-key')
    }
  })
})
