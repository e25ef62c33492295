// The openai SDK's Responses API (`client.responses.*`) through Kortex, as a
// user writes it, over an Anthropic backend and an OpenAI-compatible one
// (Chat Completions only: Kortex translates). Stored responses belong to the
// API key that made them.
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startAnthropicUpstream, type AnthropicUpstream } from '../upstreams/anthropic.ts'
import { startOpenAIUpstream, type OpenAIUpstream } from '../upstreams/openai.ts'
import { startTestKortex, type TestKortex } from '../helpers/kortex.ts'
import { turns } from '../helpers/turns.ts'

const ALICE = 'kx-responses-alice-0001'
const BOB = 'kx-responses-bob-0002'

let anthropic: AnthropicUpstream
let openaiUp: OpenAIUpstream
let k: TestKortex
let alice: OpenAI
let bob: OpenAI

// Four backends (two upstreams x text/tool behaviour), one route per model name.
const config = () => `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec:
  auth:
    keys:
      - { name: alice, key: ${ALICE} }
      - { name: bob, key: ${BOB} }
${['ok', 'tool']
  .map(
    (mode) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: anthropic-${mode} }
spec:
  type: external
  external: { url: ${anthropic.base(mode)}, provider: anthropic, apiKeySecret: { name: anthropic, key: key } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: openai-${mode} }
spec:
  type: external
  external: { url: ${openaiUp.base(mode)}, provider: openai, apiKeySecret: { name: openai, key: key } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: claude-${mode} }
spec: { models: [claude-${mode}], defaultBackend: { name: anthropic-${mode} } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: gpt-${mode} }
spec: { models: [gpt-${mode}], defaultBackend: { name: openai-${mode} } }
`,
  )
  .join('')}`

beforeAll(async () => {
  process.env.ANTHROPIC_KEY = 'test-ant-upstream'
  process.env.OPENAI_KEY = 'test-openai-upstream'
  anthropic = await startAnthropicUpstream()
  openaiUp = await startOpenAIUpstream()
  k = await startTestKortex(config())
  alice = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: ALICE, maxRetries: 0 })
  bob = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: BOB, maxRetries: 0 })
})
afterAll(async () => {
  await k?.close()
  await anthropic?.close()
  await openaiUp?.close()
})

const weather = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'The current weather in a city',
  strict: false,
  parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
}

// What each backend reports (the test upstreams' fixed usage), as the Responses API counts it:
// input_tokens include cached ones (Anthropic's 25 input + 100 cache read + 10 cache write).
const backends = [
  {
    name: 'an Anthropic backend',
    prefix: 'claude',
    last: () => anthropic.last!,
    path: /\/v1\/messages$/,
    usage: { input_tokens: 135, output_tokens: 15, total_tokens: 150, cached: 100 },
    streamUsage: { input_tokens: 135, output_tokens: 15, total_tokens: 150 },
  },
  {
    name: 'an OpenAI-compatible backend',
    prefix: 'gpt',
    last: () => openaiUp.requests.at(-1)!,
    path: /\/v1\/chat\/completions$/,
    usage: { input_tokens: 9, output_tokens: 12, total_tokens: 21, cached: 0 },
    streamUsage: { input_tokens: 9, output_tokens: 3, total_tokens: 12 },
  },
]

describe.each(backends)('Responses API over $name', ({ prefix, last, path, usage, streamUsage }) => {
  const ok = `${prefix}-ok`
  const tool = `${prefix}-tool`

  it('responses.create: a completed Response with the answer and usage; the instructions reach the backend as its system prompt', async () => {
    const r = await alice.responses.create({ model: ok, input: 'hi', instructions: 'Be brief.' })
    expect(r.object).toBe('response')
    expect(r.id).toMatch(/^resp_/)
    expect(r.status).toBe('completed')
    expect(r.output_text).toBe('Hello from ok')
    expect(r.output).toHaveLength(1)
    expect(r.output[0]).toMatchObject({ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Hello from ok' }] })
    expect(r.usage).toMatchObject({ input_tokens: usage.input_tokens, output_tokens: usage.output_tokens, total_tokens: usage.total_tokens })
    expect(r.usage!.input_tokens_details.cached_tokens).toBe(usage.cached)
    expect(last().path).toMatch(path)
    expect(turns(last().body)).toEqual([
      { role: 'system', text: 'Be brief.' },
      { role: 'user', text: 'hi' },
    ])
  })

  it('responses.stream: typed events numbered in order, text deltas, and the final usage', async () => {
    const stream = alice.responses.stream({ model: ok, input: 'hi' })
    const types: string[] = []
    const seq: number[] = []
    let text = ''
    for await (const e of stream) {
      types.push(e.type)
      seq.push(e.sequence_number)
      if (e.type === 'response.output_text.delta') text += e.delta
    }
    expect(text).toBe('Hello from ok')
    expect(types.slice(0, 4)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added'])
    expect(types.slice(-4)).toEqual(['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed'])
    expect(seq).toEqual(types.map((_, i) => i))
    const final = await stream.finalResponse()
    expect(final.status).toBe('completed')
    expect(final.output_text).toBe('Hello from ok')
    expect(final.usage).toMatchObject(streamUsage)
    expect(last().body.stream).toBe(true)
  })

  it('tools: a function_call, then a second turn with its function_call_output (by previous_response_id) gets the answer', async () => {
    const first = await alice.responses.create({ model: tool, input: 'What is the weather in San Francisco?', tools: [weather] })
    const call = first.output.find((i) => i.type === 'function_call')
    if (call?.type !== 'function_call') throw new Error(`no function_call in ${JSON.stringify(first.output)}`)
    expect(call.name).toBe('get_weather')
    expect(call.call_id).toBeTruthy()
    expect(JSON.parse(call.arguments)).toMatchObject({ location: 'San Francisco, CA' })

    const second = await alice.responses.create({
      model: tool,
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '18°C and sunny' }],
      tools: [weather],
    })
    expect(second.output_text).toBe('The tool said: 18°C and sunny')
    expect(second.previous_response_id).toBe(first.id)
  })

  it('tools, stateless: the whole conversation sent inline (function_call and function_call_output items) works too', async () => {
    const first = await alice.responses.create({ model: tool, input: 'Weather in SF?', tools: [weather], store: false })
    const call = first.output.find((i) => i.type === 'function_call')
    if (call?.type !== 'function_call') throw new Error('no function_call')
    const second = await alice.responses.create({
      model: tool,
      store: false,
      tools: [weather],
      input: [
        { role: 'user', content: 'Weather in SF?' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: '18°C' },
      ],
    })
    expect(second.output_text).toBe('The tool said: 18°C')
  })

  it('streams a function call as argument deltas that add up to the done arguments', async () => {
    const stream = alice.responses.stream({ model: tool, input: 'Weather in SF?', tools: [weather] })
    let deltas = ''
    let done = ''
    for await (const e of stream) {
      if (e.type === 'response.function_call_arguments.delta') deltas += e.delta
      if (e.type === 'response.function_call_arguments.done') done = e.arguments
    }
    expect(JSON.parse(done)).toMatchObject({ location: 'San Francisco, CA' })
    expect(deltas).toBe(done)
    const final = await stream.finalResponse()
    expect(final.output.find((i) => i.type === 'function_call')).toMatchObject({ name: 'get_weather', arguments: done })
  })

  it('a follow-up turn with previous_response_id carries the earlier turns to the backend', async () => {
    const first = await alice.responses.create({ model: ok, input: 'My name is Ada.' })
    const second = await alice.responses.create({ model: ok, previous_response_id: first.id, input: 'What is my name?' })
    expect(second.output_text).toBe('Hello from ok')
    expect(second.previous_response_id).toBe(first.id)
    expect(turns(last().body)).toEqual([
      { role: 'user', text: 'My name is Ada.' },
      { role: 'assistant', text: 'Hello from ok' },
      { role: 'user', text: 'What is my name?' },
    ])
  })

  it('responses.retrieve returns the stored response to its key; another key gets 404, as does a response made with store:false', async () => {
    const r = await alice.responses.create({ model: ok, input: 'remember this' })
    const got = await alice.responses.retrieve(r.id)
    expect(got.id).toBe(r.id)
    expect(got.output_text).toBe('Hello from ok')
    expect(got.status).toBe('completed')
    await expect(bob.responses.retrieve(r.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
    // Nor can bob continue alice's conversation: her response does not exist for him.
    const err = await bob.responses.create({ model: ok, previous_response_id: r.id, input: 'and?' }).catch((e) => e)
    expect(err).toBeInstanceOf(OpenAI.APIError)
    expect([400, 404]).toContain(err.status)
    const unstored = await alice.responses.create({ model: ok, input: 'forget this', store: false })
    await expect(alice.responses.retrieve(unstored.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
  })
})

describe('Responses API refusals', () => {
  it('an unknown key gets an OpenAI-style 401', async () => {
    const stranger = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: 'kx-nobody', maxRetries: 0 })
    await expect(stranger.responses.create({ model: 'gpt-ok', input: 'hi' })).rejects.toBeInstanceOf(OpenAI.AuthenticationError)
  })

  it('an unknown previous_response_id is a 4xx naming it, and nothing goes upstream', async () => {
    const before = openaiUp.requests.length
    const err = await alice.responses.create({ model: 'gpt-ok', previous_response_id: 'resp_doesnotexist', input: 'hi' }).catch((e) => e)
    expect(err).toBeInstanceOf(OpenAI.APIError)
    expect([400, 404]).toContain(err.status)
    expect(err.message).toContain('resp_doesnotexist')
    expect(openaiUp.requests.length).toBe(before)
  })
})

// An OpenAI backend that serves the Responses API itself (responsesApi: native) gets the
// client's request as it was sent, at /v1/responses, and its answer comes back as it sent it.
describe('Responses API over an OpenAI backend that serves /v1/responses natively', () => {
  let k3: TestKortex
  let client: OpenAI
  beforeAll(async () => {
    k3 = await startTestKortex(`apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { open: true } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: native }
spec:
  type: external
  external: { url: ${openaiUp.base('tool')}, provider: openai, responsesApi: native, apiKeySecret: { name: openai, key: key } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: native }
spec: { models: [gpt-native], defaultBackend: { name: native } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: translated }
spec:
  type: external
  external: { url: ${openaiUp.base('ok')}, provider: openai, apiKeySecret: { name: openai, key: key } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: translated }
spec: { models: [gpt-translated], defaultBackend: { name: translated } }
`)
    client = new OpenAI({ baseURL: `${k3.url}/v1`, apiKey: 'kx-open', maxRetries: 0 })
  })
  afterAll(async () => {
    await k3?.close()
  })

  it('create: the body reaches the backend as sent, with the backend key, and the Response comes back', async () => {
    const params = { model: 'gpt-native', input: 'hi', instructions: 'Be brief.', metadata: { k: 'v' }, max_output_tokens: 64 }
    const r = await client.responses.create(params)
    expect(r.output_text).toBe('Hello from tool')
    expect(r.usage?.total_tokens).toBe(123)
    const got = openaiUp.requests.at(-1)!
    expect(got.path).toMatch(/\/v1\/responses$/)
    expect(got.body).toEqual(params)
    expect(got.headers.authorization).toBe('Bearer test-openai-upstream')
  })

  it("a follow-up naming the native backend's own response goes to it as sent; a route without such a backend refuses it", async () => {
    const first = await client.responses.create({ model: 'gpt-native', input: 'hi' })
    const next = await client.responses.create({ model: 'gpt-native', input: 'again', previous_response_id: first.id })
    expect(next.output_text).toBe('Hello from tool')
    expect(openaiUp.requests.at(-1)!.body).toEqual({ model: 'gpt-native', input: 'again', previous_response_id: first.id })
    const before = openaiUp.requests.length
    await expect(client.responses.create({ model: 'gpt-translated', input: 'again', previous_response_id: first.id })).rejects.toMatchObject({
      status: 400,
      code: 'previous_response_not_found',
    })
    expect(openaiUp.requests.length).toBe(before)
  })

  it('stream: the typed events arrive in order and the function call with them', async () => {
    const stream = client.responses.stream({ model: 'gpt-native', input: 'Weather in SF?', tools: [weather] })
    const seq: number[] = []
    for await (const e of stream) seq.push(e.sequence_number)
    expect(seq).toEqual(seq.map((_, i) => i))
    const final = await stream.finalResponse()
    expect(final.output[0]).toMatchObject({ type: 'function_call', name: 'get_weather' })
    expect(openaiUp.requests.at(-1)!.path).toMatch(/\/v1\/responses$/)
  })
})
