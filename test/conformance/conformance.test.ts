// One end-to-end suite, three runtimes: the same config and the same openai
// SDK calls against Kortex on Node, on workerd (miniflare, Durable Objects as
// the StateStore) and on Deno. A feature that works on one runtime and not on
// another fails here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { IncomingMessage, ServerResponse } from 'node:http'
import OpenAI from 'openai'
import { readJson, startServer, type TestServer } from '../helpers/server.ts'
import { eventually } from '../helpers/kortex.ts'
import { startOpenAIUpstream, type OpenAIUpstream } from '../upstreams/openai.ts'
import { startAnthropicUpstream, type AnthropicUpstream } from '../upstreams/anthropic.ts'
import { buildWorker, type BuiltWorker } from '../adapters/cloudflare-harness.ts'
import { RUNTIMES, startRuntime, type RunningRuntime } from './runtimes.ts'
import { countPromptTokens } from '../../src/usage/tokens.ts'

const KEY = 'kx-conformance-client-key-0123'

const config = (oa: OpenAIUpstream, an: AnthropicUpstream, sink: string) => `
apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: conformance }
spec:
  accessLog: false
  auth:
    keys:
      - { name: conformance, keyEnv: CONFORMANCE_KEY, team: edge }
  cost:
    sink: { url: "${sink}", batchSize: 1, flushSeconds: 0.1 }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: openai }
spec:
  type: external
  external: { url: "${oa.base('ok')}", provider: openai, apiKeySecret: { name: openai-credentials, key: api-key } }
  cost: { inputTokenCost: "0.00015", outputTokenCost: "0.0006" }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: broken }
spec:
  type: external
  external: { url: "${oa.base('503')}", provider: openai }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: claude }
spec:
  type: external
  external: { url: "${an.base('ok')}", provider: anthropic, model: claude-sonnet-4-5, apiKeySecret: { name: anthropic-credentials, key: api-key } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: chat }
spec:
  models: [gpt-4o-mini, text-embedding-3-small]
  defaultBackend: { name: openai }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: anthropic }
spec:
  models: [claude]
  defaultBackend: { name: claude }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: failover }
spec:
  models: [failover]
  defaultBackend: { name: broken }
  fallback: { backends: [openai] }
  failover: { initialBackoffMs: 0, maxBackoffMs: 0 }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: limited }
spec:
  models: [limited]
  defaultBackend: { name: openai }
  rateLimit: { requestsPerMinute: 2, tokensPerMinute: 100000 }
`

const ENV = { CONFORMANCE_KEY: KEY, OPENAI_CREDENTIALS_API_KEY: 'sk-conformance-openai', ANTHROPIC_CREDENTIALS_API_KEY: 'sk-ant-conformance' }

let oa: OpenAIUpstream
let an: AnthropicUpstream
let sink: TestServer
const records: any[] = []
let worker: BuiltWorker

beforeAll(async () => {
  ;[oa, an, worker] = await Promise.all([startOpenAIUpstream(), startAnthropicUpstream(), buildWorker()])
  sink = await startServer(async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readJson(req)
    records.push(...(body?.records ?? []))
    res.writeHead(204).end()
  })
})

afterAll(async () => {
  await Promise.all([oa?.close(), an?.close(), sink?.close()])
  await worker?.remove()
})

describe.each(RUNTIMES)('Kortex on %s', (runtime) => {
  let k: RunningRuntime
  let client: OpenAI

  beforeAll(async () => {
    k = await startRuntime(runtime, config(oa, an, sink.url), { worker, env: ENV })
    client = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: KEY, maxRetries: 0 })
  }, 60_000)

  afterAll(async () => {
    await k?.close()
  })

  it('chat, non-streaming', async () => {
    const { data, response } = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `hello from ${runtime}` }] }).withResponse()
    expect(data.object).toBe('chat.completion')
    expect(data.choices[0]!.message.content).toBeTruthy()
    expect(data.usage!.total_tokens).toBeGreaterThan(0)
    expect(response.headers.get('x-kortex-backend')).toBe('openai')
    const seen = oa.requests.at(-1)!
    expect(seen.headers.authorization).toBe('Bearer sk-conformance-openai')
    expect(JSON.stringify(seen.headers)).not.toContain(KEY)
  })

  it('chat, streaming, with usage', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'stream please' }] })
    let text = ''
    let usage: OpenAI.CompletionUsage | undefined | null
    let finish: string | null | undefined
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? ''
      finish ??= chunk.choices[0]?.finish_reason
      if (chunk.usage) usage = chunk.usage
    }
    expect(text.length).toBeGreaterThan(0)
    expect(finish).toBe('stop')
    expect(usage?.total_tokens).toBeGreaterThan(0)
  })

  it('embeddings (the SDK asks for base64 and decodes it)', async () => {
    const r = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two'] })
    expect(r.data).toHaveLength(2)
    expect(r.data[0]!.embedding.length).toBeGreaterThan(0)
    expect(r.data[0]!.embedding.every((x) => Number.isFinite(x))).toBe(true)
  })

  it('models', async () => {
    const ids: string[] = []
    for await (const m of client.models.list()) ids.push(m.id)
    expect(ids.sort()).toEqual(['claude', 'failover', 'gpt-4o-mini', 'limited', 'text-embedding-3-small'])
    expect((await client.models.retrieve('claude')).id).toBe('claude')
  })

  it('an Anthropic backend, streamed and translated to OpenAI chunks', async () => {
    const { data: stream, response } = await client.chat.completions.create({ model: 'claude', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi claude' }] }).withResponse()
    expect(response.headers.get('x-kortex-backend')).toBe('claude')
    let text = ''
    let usage: OpenAI.CompletionUsage | undefined | null
    let finish: string | null | undefined
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk')
      text += chunk.choices[0]?.delta.content ?? ''
      finish ??= chunk.choices[0]?.finish_reason
      if (chunk.usage) usage = chunk.usage
    }
    expect(text.length).toBeGreaterThan(0)
    expect(finish).toBe('stop')
    expect(usage?.prompt_tokens).toBeGreaterThan(0)
    const seen = an.requests.at(-1)!
    expect(seen.path).toMatch(/\/v1\/messages$/)
    expect(seen.headers['x-api-key']).toBe('sk-ant-conformance')
  })

  it('fails over from a failing backend', async () => {
    const { data, response } = await client.chat.completions.create({ model: 'failover', messages: [{ role: 'user', content: 'fail over' }] }).withResponse()
    expect(data.choices[0]!.message.content).toBeTruthy()
    expect(response.headers.get('x-kortex-backend')).toBe('openai')
    expect(response.headers.get('x-kortex-attempts')).toBe('2')
  })

  it("reserves the prompt's tiktoken count, then refuses past a rate limit with an OpenAI 429 and Retry-After", async () => {
    const messages = [{ role: 'user' as const, content: 'Summarise: the quick brown fox jumps over the lazy dog 42 times, then `npm test` runs 579 tests in 48 files.' }]
    const ask = () => client.chat.completions.create({ model: 'limited', messages, max_tokens: 100 })
    const { response } = await ask().withResponse()
    // The openai backend names no model: the request's model picks the encoding (cl100k_base).
    const prompt = await countPromptTokens({ messages }, 'limited')
    expect(Number(response.headers.get('x-ratelimit-remaining-tokens'))).toBe(100000 - prompt - 100)
    await ask()
    const err = await ask().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(OpenAI.RateLimitError)
    const e = err as InstanceType<typeof OpenAI.RateLimitError>
    expect(e.status).toBe(429)
    expect(Number(e.headers?.get('retry-after'))).toBeGreaterThan(0)
    expect(e.headers?.get('x-ratelimit-limit-requests')).toBe('2')
    expect((e.error as any)?.type).toBeTruthy()
  })

  it('writes a cost record, priced and attributed', async () => {
    const { response } = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'what does this cost?' }] }).withResponse()
    const id = response.headers.get('x-request-id')!
    await eventually(() => records.some((r) => r.requestId === id), 5000)
    const r = records.find((x) => x.requestId === id)
    expect(r).toMatchObject({ route: 'chat', model: 'gpt-4o-mini', backend: 'openai', status: 200, attribution: { team: 'edge', key: 'conformance' } })
    expect(r.costNano).toBeGreaterThan(0)
    expect(r.inputTokens).toBeGreaterThan(0)
  })
})
