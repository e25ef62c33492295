// One end-to-end suite, three runtimes: the same config and the same openai
// SDK calls against Kortex on Node, on workerd (miniflare, Durable Objects as
// the StateStore) and on Deno. A feature that works on one runtime and not on
// another fails here. The Responses and Messages APIs are here too, through
// the openai and @anthropic-ai/sdk clients: stored responses live in the
// runtime's StateStore (a Durable Object on workerd).
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { Agent } from 'undici'
import type { IncomingMessage, ServerResponse } from 'node:http'
import OpenAI from 'openai'
import Anthropic from '@anthropic-ai/sdk'
import { readJson, startServer, type TestServer } from '../helpers/server.ts'
import { eventually } from '../helpers/kortex.ts'
import { startOpenAIUpstream, type OpenAIUpstream } from '../upstreams/openai.ts'
import { MESSAGE_ID, startAnthropicUpstream, type AnthropicUpstream } from '../upstreams/anthropic.ts'
import { buildWorker, type BuiltWorker } from '../adapters/cloudflare-harness.ts'
import { RUNTIMES, startRuntime, type RunningRuntime } from './runtimes.ts'
import { countPromptTokens } from '../../src/usage/tokens.ts'
import { toChatPrompt } from '../../src/api/messages/request.ts'
import { turns } from '../helpers/turns.ts'

const KEY = 'kx-conformance-client-key-0123'
const OTHER_KEY = 'kx-conformance-other-key-4567'

const config = (oa: OpenAIUpstream, an: AnthropicUpstream, sink: string) => `
apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: conformance }
spec:
  accessLog: false
  auth:
    keys:
      - { name: conformance, keyEnv: CONFORMANCE_KEY, team: edge }
      - { name: other, keyEnv: CONFORMANCE_OTHER_KEY, team: edge }
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
  cost: { inputTokenCost: "0.003", outputTokenCost: "0.015" }
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

const ENV = { CONFORMANCE_KEY: KEY, CONFORMANCE_OTHER_KEY: OTHER_KEY, OPENAI_CREDENTIALS_API_KEY: 'test-conformance-openai', ANTHROPIC_CREDENTIALS_API_KEY: 'test-ant-conformance' }

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

// The two backends the Responses and Messages APIs are checked over, with
// the usage each test upstream reports (Anthropic's: 25 input + 100 cache
// read + 10 cache write, 15 output; the OpenAI one's chat: 9 + 12, streamed 9 + 3).
const BACKENDS = [
  {
    name: 'the OpenAI-compatible backend',
    model: 'gpt-4o-mini',
    backend: 'openai',
    last: () => oa.requests.at(-1)!,
    path: /\/v1\/chat\/completions$/,
    responses: { usage: { input_tokens: 9, output_tokens: 12, total_tokens: 21 }, streamUsage: { input_tokens: 9, output_tokens: 3, total_tokens: 12 } },
    messages: { usage: { input_tokens: 9, output_tokens: 12 }, streamUsage: { input_tokens: 9, output_tokens: 3 } },
  },
  {
    name: 'the Anthropic backend',
    model: 'claude',
    backend: 'claude',
    last: () => an.last!,
    path: /\/v1\/messages$/,
    responses: { usage: { input_tokens: 135, output_tokens: 15, total_tokens: 150 }, streamUsage: { input_tokens: 135, output_tokens: 15, total_tokens: 150 } },
    messages: {
      usage: { input_tokens: 25, output_tokens: 15, cache_read_input_tokens: 100, cache_creation_input_tokens: 10 },
      streamUsage: { input_tokens: 25, output_tokens: 15, cache_read_input_tokens: 100, cache_creation_input_tokens: 10 },
    },
  },
]

describe.each(RUNTIMES)('Kortex on %s', (runtime) => {
  let k: RunningRuntime
  let client: OpenAI
  /** The same gateway, another API key: stored responses are not its to see. */
  let other: OpenAI
  let claude: Anthropic

  beforeAll(async () => {
    k = await startRuntime(runtime, config(oa, an, sink.url), { worker, env: ENV })
    client = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: KEY, maxRetries: 0 })
    other = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: OTHER_KEY, maxRetries: 0 })
    claude = new Anthropic({ baseURL: k.url, apiKey: KEY, maxRetries: 0 })
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
    expect(seen.headers.authorization).toBe('Bearer test-conformance-openai')
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
    expect(seen.headers['x-api-key']).toBe('test-ant-conformance')
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

  describe.each(BACKENDS)('Responses API over $name', ({ model, backend, last, path, responses }) => {
    it('responses.create: a completed Response with the answer and usage; the instructions reach the backend', async () => {
      const { data: r, response } = await client.responses.create({ model, input: `hi from ${runtime}`, instructions: 'Be brief.' }).withResponse()
      expect(response.headers.get('x-kortex-backend')).toBe(backend)
      expect(r.object).toBe('response')
      expect(r.id).toMatch(/^resp_/)
      expect(r.status).toBe('completed')
      expect(r.output_text).toBe('Hello from ok')
      expect(r.usage).toMatchObject(responses.usage)
      expect(last().path).toMatch(path)
      expect(turns(last().body)).toEqual([
        { role: 'system', text: 'Be brief.' },
        { role: 'user', text: `hi from ${runtime}` },
      ])
    })

    it('responses.stream: typed events numbered in order, text deltas, the final usage', async () => {
      const stream = client.responses.stream({ model, input: 'stream please' })
      const types: string[] = []
      const seq: number[] = []
      let text = ''
      for await (const e of stream) {
        types.push(e.type)
        seq.push(e.sequence_number)
        if (e.type === 'response.output_text.delta') text += e.delta
      }
      expect(text).toBe('Hello from ok')
      expect(types[0]).toBe('response.created')
      expect(types.at(-1)).toBe('response.completed')
      expect(seq).toEqual(types.map((_, i) => i))
      const final = await stream.finalResponse()
      expect(final.status).toBe('completed')
      expect(final.usage).toMatchObject(responses.streamUsage)
      expect(last().body.stream).toBe(true)
    })

    it("a follow-up by previous_response_id carries the earlier turns; retrieve, input items and delete work with its own key only", async () => {
      const first = await client.responses.create({ model, input: 'My name is Ada.' })
      const second = await client.responses.create({ model, previous_response_id: first.id, input: 'What is my name?' })
      expect(second.previous_response_id).toBe(first.id)
      expect(second.output_text).toBe('Hello from ok')
      expect(turns(last().body)).toEqual([
        { role: 'user', text: 'My name is Ada.' },
        { role: 'assistant', text: 'Hello from ok' },
        { role: 'user', text: 'What is my name?' },
      ])
      // As it was answered, field for field, from the runtime's store.
      expect(await client.responses.retrieve(second.id)).toEqual(second)
      await expect(other.responses.retrieve(second.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
      const before = last()
      const err = await other.responses.create({ model, previous_response_id: second.id, input: 'and?' }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OpenAI.APIError)
      expect([400, 404]).toContain((err as InstanceType<typeof OpenAI.APIError>).status)
      expect(last()).toBe(before)
      // This turn's input, listed; then deleted, it is gone for its own key too.
      const items = []
      for await (const item of client.responses.inputItems.list(second.id)) items.push(item)
      expect(items).toMatchObject([{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'What is my name?' }] }])
      await expect(other.responses.delete(second.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
      await client.responses.delete(second.id)
      await expect(client.responses.retrieve(second.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
    })
  })

  it('a stored response too big for one row (an image past 2 MB) is continued and retrieved as anywhere else', async () => {
    // Its own connections: miniflare's local server may close a kept-alive socket after a body this
    // size, and a later test's request sent on it would fail with "other side closed".
    const pool = new Agent()
    const client = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: KEY, maxRetries: 0, fetchOptions: { dispatcher: pool } as never })
    onTestFinished(() => pool.close())
    const image = `data:image/png;base64,${'A'.repeat(2_600_000)}`
    const first = await client.responses.create({ model: 'gpt-4o-mini', input: [{ role: 'user', content: [{ type: 'input_text', text: 'What is in this picture?' }, { type: 'input_image', image_url: image, detail: 'auto' }] }] })
    const second = await client.responses.create({ model: 'gpt-4o-mini', previous_response_id: first.id, input: 'And the colours?' })
    expect(second.output_text).toBe('Hello from ok')
    expect(JSON.stringify(oa.requests.at(-1)!.body)).toContain(image)
    expect((await client.responses.retrieve(second.id)).previous_response_id).toBe(first.id)
  })

  describe.each(BACKENDS)('Messages API over $name', ({ model, backend, last, path, messages }) => {
    it('messages.create: a Message with the text, end_turn and usage', async () => {
      const params = { model, max_tokens: 64, system: 'Be brief.', messages: [{ role: 'user' as const, content: `hi from ${runtime}` }] }
      const { data: m, response } = await claude.messages.create(params).withResponse()
      expect(response.headers.get('x-kortex-backend')).toBe(backend)
      expect(m.type).toBe('message')
      expect(m.role).toBe('assistant')
      expect(m.content).toEqual([{ type: 'text', text: 'Hello from ok' }])
      expect(m.stop_reason).toBe('end_turn')
      expect(m.usage).toMatchObject(messages.usage)
      expect(last().path).toMatch(path)
      if (backend === 'claude') {
        // Native: the body goes as the SDK sent it, but for the backend's model name; the answer comes back as the backend gave it.
        expect(last().body).toEqual({ ...params, model: 'claude-sonnet-4-5' })
        expect(m.id).toBe(MESSAGE_ID)
        expect(last().headers['x-api-key']).toBe('test-ant-conformance')
        expect(JSON.stringify(last().headers)).not.toContain(KEY)
      } else {
        expect(turns(last().body)).toEqual([
          { role: 'system', text: 'Be brief.' },
          { role: 'user', text: `hi from ${runtime}` },
        ])
        expect(last().headers.authorization).toBe('Bearer test-conformance-openai')
      }
    })

    it('messages.stream: text deltas, the event sequence, finalMessage with usage', async () => {
      const params = { model, max_tokens: 64, messages: [{ role: 'user' as const, content: 'stream please' }] }
      const stream = claude.messages.stream(params)
      const deltas: string[] = []
      const events: string[] = []
      stream.on('text', (d) => deltas.push(d))
      stream.on('streamEvent', (e) => events.push(e.type))
      const final = await stream.finalMessage()
      expect(deltas.join('')).toBe('Hello from ok')
      expect(events[0]).toBe('message_start')
      expect(events.slice(-2)).toEqual(['message_delta', 'message_stop'])
      expect(final.stop_reason).toBe('end_turn')
      expect(final.usage).toMatchObject(messages.streamUsage)
      if (backend === 'claude') {
        expect(last().body).toEqual({ ...params, stream: true, model: 'claude-sonnet-4-5' })
        expect(final.id).toBe(MESSAGE_ID)
      }
      else expect(last().body.stream).toBe(true)
    })
  })

  it('Messages: a missing max_tokens is a BadRequestError in Anthropic\'s error shape, and nothing goes upstream', async () => {
    const before = an.requests.length
    const err = await claude.messages.create({ model: 'claude', messages: [{ role: 'user', content: 'hi' }] } as never).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Anthropic.BadRequestError)
    const e = err as InstanceType<typeof Anthropic.BadRequestError>
    expect(e.status).toBe(400)
    expect(e.error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } })
    expect(e.message).toContain('max_tokens')
    expect(an.requests.length).toBe(before)
  })

  it('Messages: an unknown key is an AuthenticationError in Anthropic\'s error shape', async () => {
    const stranger = new Anthropic({ baseURL: k.url, apiKey: 'kx-not-a-key', maxRetries: 0 })
    const err = await stranger.messages.create({ model: 'claude', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError)
    expect((err as InstanceType<typeof Anthropic.AuthenticationError>).error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } })
  })

  it("messages.countTokens counts as the gateway's tokenizer does on Node", async () => {
    const params = { model: 'claude', system: 'You are a careful assistant.', messages: [{ role: 'user' as const, content: 'Count me: the quick brown fox jumps over the lazy dog.' }] }
    const r = await claude.messages.countTokens(params)
    expect(r.input_tokens).toBe(await countPromptTokens(toChatPrompt(params as never), 'claude'))
    const longer = await claude.messages.countTokens({ ...params, messages: [{ role: 'user', content: 'hi '.repeat(200) }] })
    expect(longer.input_tokens).toBeGreaterThan(r.input_tokens + 100)
  })

  it('writes cost records for a Responses and a Messages request, with the backends\' token counts', async () => {
    const { response: a } = await client.responses.create({ model: 'gpt-4o-mini', input: 'what does this cost?' }).withResponse()
    const { response: b } = await claude.messages.create({ model: 'claude', max_tokens: 32, messages: [{ role: 'user', content: 'and this?' }] }).withResponse()
    const ids = [a.headers.get('x-request-id')!, b.headers.get('x-request-id')!]
    expect(ids.every(Boolean)).toBe(true)
    await eventually(() => ids.every((id) => records.some((r) => r.requestId === id)), 5000)
    const [ra, rb] = ids.map((id) => records.find((x) => x.requestId === id))
    expect(ra).toMatchObject({ route: 'chat', model: 'gpt-4o-mini', backend: 'openai', status: 200, inputTokens: 9, outputTokens: 12, estimated: false, attribution: { team: 'edge', key: 'conformance' } })
    expect(rb).toMatchObject({ route: 'anthropic', model: 'claude', backend: 'claude', status: 200, inputTokens: 135, outputTokens: 15, cachedInputTokens: 100, estimated: false, attribution: { team: 'edge', key: 'conformance' } })
    expect(ra.costNano).toBeGreaterThan(0)
    expect(rb.costNano).toBeGreaterThan(0)
  })
})
