// The Anthropic SDK (@anthropic-ai/sdk) through Kortex's /v1/messages, as a
// user writes it, over an Anthropic backend (the request goes as it came:
// cache_control, thinking, beta headers the route allows) and an
// OpenAI-compatible one (translated both ways, streaming included). The SDK
// sends its key as `Authorization: Bearer`, anthropic-version, x-stainless-*.
import Anthropic from '@anthropic-ai/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startAnthropicUpstream, THINKING, THINKING_SIGNATURE, type AnthropicUpstream } from '../upstreams/anthropic.ts'
import { startOpenAIUpstream, type OpenAIUpstream } from '../upstreams/openai.ts'
import { startTestKortex, type TestKortex } from '../helpers/kortex.ts'
import { turns } from '../helpers/turns.ts'

const KEY = 'kx-messages-alice-0001'

let anthropic: AnthropicUpstream
let openaiUp: OpenAIUpstream
let k: TestKortex
let client: Anthropic

const backend = (name: string, url: string, provider: string, extra = '') => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: ${name} }
spec:
  type: external
  external: { url: ${url}, provider: ${provider}, apiKeySecret: { name: ${provider}, key: key } }
${extra}`
// For the failing backends: every request reaches the upstream, whatever ran before.
const noBreaker = '  circuitBreaker: { enabled: false }\n'

const route = (model: string, to: string, extra = '') => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r-${model} }
spec:
  models: [${model}]
  defaultBackend: { name: ${to} }
${extra}`

// claude-* routes go to the Anthropic upstream, gpt-* to the OpenAI one (Chat Completions);
// the suffix is the upstream's behaviour (529: overloaded_error; 503: the engine is overloaded;
// badjson: a 200 that is not JSON). claude-limited allows one request a minute.
const config = () =>
  `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec:
  auth:
    keys:
      - { name: alice, key: ${KEY} }
` +
  ['ok', 'tool', 'thinking'].map((m) => backend(`anthropic-${m}`, anthropic.base(m), 'anthropic') + route(`claude-${m}`, `anthropic-${m}`)).join('') +
  ['ok', 'tool'].map((m) => backend(`openai-${m}`, openaiUp.base(m), 'openai') + route(`gpt-${m}`, `openai-${m}`)).join('') +
  ['529', 'badjson'].map((m) => backend(`anthropic-${m}`, anthropic.base(m), 'anthropic', noBreaker) + route(`claude-${m}`, `anthropic-${m}`)).join('') +
  ['503', 'badjson'].map((m) => backend(`openai-${m}`, openaiUp.base(m), 'openai', noBreaker) + route(`gpt-${m}`, `openai-${m}`)).join('') +
  route('claude-limited', 'anthropic-ok', '  rateLimit: { requestsPerMinute: 1 }\n')

beforeAll(async () => {
  process.env.ANTHROPIC_KEY = 'test-ant-upstream'
  process.env.OPENAI_KEY = 'test-openai-upstream'
  anthropic = await startAnthropicUpstream()
  openaiUp = await startOpenAIUpstream()
  k = await startTestKortex(config())
  client = new Anthropic({ baseURL: k.url, apiKey: KEY, maxRetries: 0 })
})
afterAll(async () => {
  await k?.close()
  await anthropic?.close()
  await openaiUp?.close()
})

const tools = [{ name: 'get_weather', description: 'The current weather in a city', input_schema: { type: 'object' as const, properties: { location: { type: 'string' } }, required: ['location'] } }]

// Usage as each backend reports it (the upstreams' fixed numbers), in Anthropic's terms:
// input_tokens leave out cached ones; an OpenAI backend reports no cache here.
const backends = [
  {
    name: 'an Anthropic backend',
    prefix: 'claude',
    last: () => anthropic.last!,
    path: /\/v1\/messages$/,
    usage: { input_tokens: 25, output_tokens: 15, cache_read_input_tokens: 100, cache_creation_input_tokens: 10 },
    streamUsage: { input_tokens: 25, output_tokens: 15, cache_read_input_tokens: 100, cache_creation_input_tokens: 10 },
  },
  {
    name: 'an OpenAI-compatible backend',
    prefix: 'gpt',
    last: () => openaiUp.requests.at(-1)!,
    path: /\/v1\/chat\/completions$/,
    usage: { input_tokens: 9, output_tokens: 12 },
    streamUsage: { input_tokens: 9, output_tokens: 3 },
  },
]

describe.each(backends)('Messages API over $name', ({ prefix, last, path, usage, streamUsage }) => {
  const ok = `${prefix}-ok`
  const tool = `${prefix}-tool`

  it('messages.create: a Message with the text, end_turn and usage; system and turns reach the backend', async () => {
    const m = await client.messages.create({ model: ok, max_tokens: 64, system: 'Be brief.', messages: [{ role: 'user', content: 'hi' }] })
    expect(m.type).toBe('message')
    expect(m.role).toBe('assistant')
    expect(m.id).toMatch(/^msg_/)
    expect(m.content).toEqual([{ type: 'text', text: 'Hello from ok' }])
    expect(m.stop_reason).toBe('end_turn')
    expect(m.usage).toMatchObject(usage)
    expect(last().path).toMatch(path)
    expect(turns(last().body)).toEqual([
      { role: 'system', text: 'Be brief.' },
      { role: 'user', text: 'hi' },
    ])
    const b = last().body
    expect(b.max_tokens ?? b.max_completion_tokens).toBe(64)
  })

  it('messages.stream: text deltas, the event sequence, and finalMessage with usage', async () => {
    const stream = client.messages.stream({ model: ok, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] })
    const deltas: string[] = []
    const events: string[] = []
    stream.on('text', (d) => deltas.push(d))
    stream.on('streamEvent', (e) => events.push(e.type))
    const final = await stream.finalMessage()
    expect(deltas.join('')).toBe('Hello from ok')
    expect(deltas.length).toBeGreaterThan(1)
    expect(events[0]).toBe('message_start')
    expect(events.slice(-2)).toEqual(['message_delta', 'message_stop'])
    expect(events).toContain('content_block_start')
    expect(events).toContain('content_block_stop')
    expect(final.content).toEqual([{ type: 'text', text: 'Hello from ok' }])
    expect(final.stop_reason).toBe('end_turn')
    expect(final.usage).toMatchObject(streamUsage)
    expect(last().body.stream).toBe(true)
  })

  it('tools: a tool_use, then a tool_result turn gets the answer', async () => {
    const ask = { role: 'user' as const, content: 'What is the weather in San Francisco?' }
    const first = await client.messages.create({ model: tool, max_tokens: 256, tools, messages: [ask] })
    expect(first.stop_reason).toBe('tool_use')
    const use = first.content.find((b) => b.type === 'tool_use')
    if (use?.type !== 'tool_use') throw new Error(`no tool_use in ${JSON.stringify(first.content)}`)
    expect(use.name).toBe('get_weather')
    expect(use.id).toBeTruthy()
    expect(use.input).toMatchObject({ location: 'San Francisco, CA' })

    const second = await client.messages.create({
      model: tool,
      max_tokens: 256,
      tools,
      messages: [ask, { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '18°C' }] }],
    })
    expect(second.content).toEqual([{ type: 'text', text: 'The tool said: 18°C' }])
    expect(second.stop_reason).toBe('end_turn')
  })

  it('a streamed tool_use arrives whole (input_json_delta pieces add up to the input)', async () => {
    const stream = client.messages.stream({ model: tool, max_tokens: 256, tools, messages: [{ role: 'user', content: 'Weather in SF?' }] })
    let json = ''
    stream.on('inputJson', (delta) => (json += delta))
    const final = await stream.finalMessage()
    const use = final.content.find((b) => b.type === 'tool_use')
    expect(use).toMatchObject({ type: 'tool_use', name: 'get_weather', input: { location: 'San Francisco, CA' } })
    expect(JSON.parse(json)).toEqual((use as { input: unknown }).input)
    expect(final.stop_reason).toBe('tool_use')
  })

  it('messages.countTokens counts the prompt: more text, more tokens', async () => {
    const short = await client.messages.countTokens({ model: ok, messages: [{ role: 'user', content: 'hi' }] })
    const long = await client.messages.countTokens({ model: ok, system: 'You are a careful assistant.', messages: [{ role: 'user', content: 'hi '.repeat(200) }] })
    expect(short.input_tokens).toBeGreaterThan(0)
    expect(long.input_tokens).toBeGreaterThan(short.input_tokens + 100)
  })
})

describe('Messages API over an Anthropic backend: the request goes as it came', () => {
  it('cache_control, thinking settings and an earlier thinking block reach the backend untouched; the key is the backend\'s', async () => {
    const params: Anthropic.MessageCreateParamsNonStreaming = {
      model: 'claude-ok',
      max_tokens: 2048,
      system: [{ type: 'text', text: 'A long, cacheable context.', cache_control: { type: 'ephemeral' } }],
      thinking: { type: 'enabled', budget_tokens: 1024 },
      metadata: { user_id: 'user-42' },
      stop_sequences: ['END'],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral' } }] },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: THINKING, signature: THINKING_SIGNATURE },
            { type: 'text', text: 'Hello.' },
          ],
        },
        { role: 'user', content: 'And again?' },
      ],
    }
    await client.messages.create(params)
    const got = anthropic.last!
    expect(got.body).toEqual(params)
    expect(got.headers['x-api-key']).toBe('test-ant-upstream')
    expect(JSON.stringify(got.headers)).not.toContain(KEY)
    expect(got.headers['anthropic-version']).toBeTruthy()
  })

  it('a thinking answer comes back with its thinking block and signature, in JSON and in the stream', async () => {
    const params = { model: 'claude-thinking', max_tokens: 2048, thinking: { type: 'enabled' as const, budget_tokens: 1024 }, messages: [{ role: 'user' as const, content: 'hi' }] }
    const m = await client.messages.create(params)
    expect(m.content).toEqual([
      { type: 'thinking', thinking: THINKING, signature: THINKING_SIGNATURE },
      { type: 'text', text: 'Hello from thinking' },
    ])
    const stream = client.messages.stream(params)
    let thinking = ''
    stream.on('thinking', (d) => (thinking += d))
    const final = await stream.finalMessage()
    expect(thinking).toBe(THINKING)
    expect(final.content).toEqual(m.content)
  })
})

describe('Messages API over an OpenAI-compatible backend: translated both ways', () => {
  it('tool definitions become functions, tool_use/tool_result become tool_calls and a tool message', async () => {
    const first = await client.messages.create({ model: 'gpt-tool', max_tokens: 256, tools, messages: [{ role: 'user', content: 'Weather?' }] })
    const use = first.content.find((b) => b.type === 'tool_use')
    if (use?.type !== 'tool_use') throw new Error('no tool_use')
    expect(openaiUp.requests.at(-1)!.body.tools).toEqual([{ type: 'function', function: { name: 'get_weather', description: 'The current weather in a city', parameters: tools[0]!.input_schema } }])
    await client.messages.create({
      model: 'gpt-tool',
      max_tokens: 256,
      tools,
      messages: [{ role: 'user', content: 'Weather?' }, { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '18°C' }] }],
    })
    const sent = openaiUp.requests.at(-1)!.body.messages
    expect(sent[1]).toMatchObject({ role: 'assistant', tool_calls: [{ id: use.id, type: 'function', function: { name: 'get_weather' } }] })
    expect(JSON.parse(sent[1].tool_calls[0].function.arguments)).toEqual(use.input)
    expect(sent[2]).toMatchObject({ role: 'tool', tool_call_id: use.id })
    expect(turns({ messages: [sent[2]] })).toEqual([]) // tool messages are not text turns
    expect(JSON.stringify(sent[2].content)).toContain('18°C')
  })
})

describe('Messages API errors, in Anthropic\'s shape and statuses', () => {
  const hi = { max_tokens: 16, messages: [{ role: 'user' as const, content: 'hi' }] }

  it('a bad key is an AuthenticationError (401, authentication_error)', async () => {
    const stranger = new Anthropic({ baseURL: k.url, apiKey: 'kx-not-a-key', maxRetries: 0 })
    const err = await stranger.messages.create({ model: 'claude-ok', ...hi }).catch((e) => e)
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError)
    expect(err.status).toBe(401)
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } })
  })

  it('the key as x-api-key (what older SDKs and Claude Code send) is accepted too', async () => {
    const viaHeader = new Anthropic({ baseURL: k.url, apiKey: null, defaultHeaders: { 'x-api-key': KEY }, maxRetries: 0 })
    const m = await viaHeader.messages.create({ model: 'claude-ok', ...hi })
    expect(m.content).toEqual([{ type: 'text', text: 'Hello from ok' }])
  })

  it('a missing max_tokens is a BadRequestError (400, invalid_request_error) and nothing goes upstream', async () => {
    const before = anthropic.requests.length
    const err = await client.messages.create({ model: 'claude-ok', messages: hi.messages } as never).catch((e) => e)
    expect(err).toBeInstanceOf(Anthropic.BadRequestError)
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } })
    expect(err.message).toContain('max_tokens')
    expect(anthropic.requests.length).toBe(before)
  })

  it('an unknown model is a NotFoundError (404, not_found_error)', async () => {
    const err = await client.messages.create({ model: 'no-such-model', ...hi }).catch((e) => e)
    expect(err).toBeInstanceOf(Anthropic.NotFoundError)
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'not_found_error' } })
  })

  it("a route's rate limit is a RateLimitError (429, rate_limit_error) with retry-after", async () => {
    await client.messages.create({ model: 'claude-limited', ...hi })
    const err = await client.messages.create({ model: 'claude-limited', ...hi }).catch((e) => e)
    expect(err).toBeInstanceOf(Anthropic.RateLimitError)
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } })
    expect(Number(err.headers.get('retry-after'))).toBeGreaterThan(0)
  })
})

// Anthropic answers overload with 529 overloaded_error; so does the gateway when its backends are
// overloaded or unavailable, whatever protocol they speak. The OpenAI and Responses APIs keep their 502.
describe.each([
  { name: "an Anthropic backend's 529 overloaded_error", model: 'claude-529', status: 'HTTP 529', upstream: () => anthropic.requests },
  { name: "an OpenAI-compatible backend's 503", model: 'gpt-503', status: 'HTTP 503', upstream: () => openaiUp.requests },
])('Messages API over $name', ({ model, status, upstream }) => {
  const hi = { model, max_tokens: 16, messages: [{ role: 'user' as const, content: 'hi' }] }

  it('messages.create raises the SDK\'s OverloadedError: 529, overloaded_error, the request id', async () => {
    const before = upstream().length
    const err = await client.messages.create(hi).catch((e) => e)
    expect(upstream().length).toBe(before + 1) // the upstream was asked, once
    expect(err).toBeInstanceOf(Anthropic.OverloadedError)
    expect(err.status).toBe(529)
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'overloaded_error', message: expect.stringContaining(status) } })
    expect(err.requestID).toBe(err.headers.get('x-request-id'))
    expect(err.requestID).toBeTruthy()
  })

  it('a streamed request fails the same way, before any event', async () => {
    const events: string[] = []
    const stream = client.messages.stream(hi)
    stream.on('streamEvent', (e) => events.push(e.type))
    const err = await stream.finalMessage().catch((e) => e)
    expect(err).toBeInstanceOf(Anthropic.OverloadedError)
    expect(err.status).toBe(529)
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } })
    expect(events).toEqual([])
  })
})

describe('Messages API: an upstream fault that is not overload stays a 502 api_error', () => {
  it.each(['claude-badjson', 'gpt-badjson'])('%s: a 200 whose body is not JSON', async (model) => {
    const err = await client.messages.create({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e)
    expect(err).toBeInstanceOf(Anthropic.InternalServerError)
    expect(err.status).toBe(502)
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'api_error' } })
  })
})

describe('anthropic-beta headers: passed on only where the route allows them', () => {
  let k2: TestKortex
  beforeAll(async () => {
    k2 = await startTestKortex(
      `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { open: true } }
` +
        backend('anthropic-ok', anthropic.base('ok'), 'anthropic') +
        route('claude-beta', 'anthropic-ok', '  forwardHeaders: [anthropic-beta]\n') +
        route('claude-plain', 'anthropic-ok'),
    )
  })
  afterAll(async () => {
    await k2?.close()
  })

  it('a route with forwardHeaders: [anthropic-beta] passes the client\'s beta header on; another route does not', async () => {
    const beta = new Anthropic({ baseURL: k2.url, apiKey: 'any', maxRetries: 0, defaultHeaders: { 'anthropic-beta': 'context-1m-2025-08-07,interleaved-thinking-2025-05-14' } })
    await beta.messages.create({ model: 'claude-beta', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })
    expect(anthropic.last!.headers['anthropic-beta']).toBe('context-1m-2025-08-07,interleaved-thinking-2025-05-14')
    await beta.messages.create({ model: 'claude-plain', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })
    expect(anthropic.last!.headers['anthropic-beta']).toBeUndefined()
  })
})
