// The openai SDK, through Kortex, to a Mistral backend that is as strict as
// api.mistral.ai: what OpenAI clients send and Mistral refuses is made to fit.
import OpenAI from 'openai'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { MISTRAL_TOOL_ID, WEATHER_ARGS, startMistralUpstream, vectorOf, type MistralUpstream } from '../upstreams/mistral.ts'
import { eventually, startTestKortex, type TestKortex } from '../helpers/kortex.ts'
import { modelRoute } from '../helpers/configs.ts'

let up: MistralUpstream
let k: TestKortex
let client: OpenAI
const KEY = 'mistral-test-not-a-real-key'

const backend = (name: string, mode: string, extra = '', model = 'mistral-small-latest') => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: ${name} }
spec:
  type: external
  external: { url: ${up.base(mode)}/v1, provider: mistral, model: ${model}, apiKeySecret: { name: mistral, key: key }${extra} }
  cost: { inputTokenCost: "0.0001", outputTokenCost: "0.0003" }
`

beforeAll(async () => {
  process.env.MISTRAL_KEY = KEY
  up = await startMistralUpstream()
  k = await startTestKortex(
    `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { open: true } }
` +
      ['ok', 'tool', '429', 'context'].map((m) => backend(`mi-${m}`, m)).join('') +
      backend('mi-safe', 'ok', ', safePrompt: true') +
      backend('mi-embed', 'ok', '', 'mistral-embed') +
      ['ok', 'tool', 'context', 'safe', 'embed'].map((m) => modelRoute(`mi-${m}`, `mi-${m}`)).join('') +
      modelRoute('mi-busy', 'mi-429', ['mi-ok']),
  )
  client = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: 'client-key', maxRetries: 0 })
})
afterAll(async () => {
  await k?.close()
  await up?.close()
})

const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }]

it("OpenAI's names Mistral refuses are renamed or left out", async () => {
  const r = await client.chat.completions.create({
    model: 'mi-ok',
    messages: [
      { role: 'developer', content: 'Be brief.' },
      { role: 'user', content: 'hi', name: 'ann' },
    ],
    seed: 42,
    max_completion_tokens: 64,
    user: 'u-1',
    store: false,
  })
  expect(r.choices[0]!.message.content).toBe('Hello from ok')
  expect(r.usage).toMatchObject({ prompt_tokens: 20, completion_tokens: 10 })
  const sent = up.last!
  expect(sent.path).toMatch(/\/v1\/chat\/completions$/)
  expect(sent.headers.authorization).toBe(`Bearer ${KEY}`)
  expect(sent.body).toEqual({
    model: 'mistral-small-latest',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
    ],
    random_seed: 42,
    max_tokens: 64,
  })
})

it('safe_prompt is the backend\'s setting', async () => {
  await client.chat.completions.create({ model: 'mi-safe', messages: [{ role: 'user', content: 'hi' }] })
  expect(up.last!.body.safe_prompt).toBe(true)
  await client.chat.completions.create({ model: 'mi-ok', messages: [{ role: 'user', content: 'hi' }] })
  expect(up.last!.body.safe_prompt).toBeUndefined()
})

it("a stream with usage: stream_options is not sent, Mistral's usage on the last chunk becomes OpenAI's usage chunk", async () => {
  const stream = await client.chat.completions.create({ model: 'mi-ok', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] })
  let text = ''
  const chunks = []
  for await (const c of stream) {
    chunks.push(c)
    text += c.choices[0]?.delta.content ?? ''
  }
  expect(text).toBe('Hello from ok')
  expect(up.last!.body.stream_options).toBeUndefined()
  expect(chunks.at(-1)!.choices).toEqual([])
  expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 20, completion_tokens: 10 })
  expect(chunks.filter((c) => c.usage)).toHaveLength(1)
  expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('stop')
})

it("tools: OpenAI's call ids become Mistral's 9-character ones and come back as the client's", async () => {
  // A conversation begun elsewhere (an OpenAI backend, say): its ids are OpenAI's.
  const openaiId = 'call_Qk2rHBBkfT2yA1JwFZJZ1pAs'
  const messages: OpenAI.ChatCompletionMessageParam[] = [
    { role: 'user', content: 'weather in Paris?' },
    { role: 'assistant', content: null, refusal: null, tool_calls: [{ id: openaiId, type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }] } as OpenAI.ChatCompletionAssistantMessageParam,
    { role: 'tool', tool_call_id: openaiId, content: '18°C' },
  ]
  const r = await client.chat.completions.create({ model: 'mi-tool', messages, tools, tool_choice: 'required' })
  expect(r.choices[0]!.message.content).toBe('The tool said: 18°C')
  const sent = up.last!.body
  expect(sent.tool_choice).toBe('any')
  const mapped = sent.messages[1].tool_calls[0].id
  expect(mapped).toMatch(/^[a-zA-Z0-9]{9}$/)
  expect(sent.messages[2].tool_call_id).toBe(mapped)
  expect(sent.messages[1]).not.toHaveProperty('refusal')
})

it("tools: Mistral's own call, its result sent back, the answer", async () => {
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'weather in Paris?' }]
  const first = await client.chat.completions.create({ model: 'mi-tool', messages, tools })
  const call = first.choices[0]!.message.tool_calls![0]!
  expect(call.id).toBe(MISTRAL_TOOL_ID)
  expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual(WEATHER_ARGS)
  messages.push(first.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: 'rain' })
  const second = await client.chat.completions.create({ model: 'mi-tool', messages, tools })
  expect(second.choices[0]!.message.content).toBe('The tool said: rain')
  expect(up.last!.body.messages[2].tool_call_id).toBe(MISTRAL_TOOL_ID)
})

it('a streamed tool call reaches the SDK whole', async () => {
  const final = await client.chat.completions.stream({ model: 'mi-tool', messages: [{ role: 'user', content: 'weather?' }], tools, stream_options: { include_usage: true } }).finalChatCompletion()
  const call = final.choices[0]!.message.tool_calls![0]!
  expect(call.id).toBe(MISTRAL_TOOL_ID)
  expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual(WEATHER_ARGS)
  expect(final.choices[0]!.finish_reason).toBe('tool_calls')
  expect(final.usage?.completion_tokens).toBe(10)
})

it('embeddings (mistral-embed): the SDK default base64 decodes to the vectors', async () => {
  const r = await client.embeddings.create({ model: 'mi-embed', input: ['hello', 'world!'] })
  expect(r.data.map((d) => d.embedding)).toEqual([vectorOf('hello'), vectorOf('world!')])
  expect(r.usage.prompt_tokens).toBe(6)
  expect(up.last!.path).toMatch(/\/v1\/embeddings$/)
  expect(up.last!.body).toEqual({ model: 'mistral-embed', input: ['hello', 'world!'] })
})

it('a Mistral 429 fails over to the next backend', async () => {
  const before = up.requests.length
  const r = await client.chat.completions.create({ model: 'mi-busy', messages: [{ role: 'user', content: 'hi' }] })
  expect(r.choices[0]!.message.content).toBe('Hello from ok')
  expect(up.requests.slice(before).map((x) => x.path.split('/')[2])).toEqual(['429', 'ok'])
})

it("Mistral's errors in OpenAI's words: a context overflow, a 422 naming the field", async () => {
  const ctx = await client.chat.completions.create({ model: 'mi-context', messages: [{ role: 'user', content: 'long' }] }).catch((e) => e)
  expect(ctx.status).toBe(400)
  expect(ctx.code).toBe('context_length_exceeded')
  // A role Mistral has no tag for: its 422 validation form, passed on readably.
  const res = await fetch(`${k.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'mi-ok', messages: [{ role: 'function', content: 'x', name: 'f' }] }) })
  const body = await res.json()
  expect(res.status).toBe(422)
  expect(body.error.message).toContain('body.messages.0')
  expect(body.error.param).toBe('messages.0')
})

it('cost: a whole answer and a stream priced from the usage Mistral sent', async () => {
  const ours = () => k.records.filter((x) => x.type === 'cost' && x.model === 'mi-ok')
  const before = ours().length
  await client.chat.completions.create({ model: 'mi-ok', messages: [{ role: 'user', content: 'price me' }] })
  const s = await client.chat.completions.create({ model: 'mi-ok', stream: true, messages: [{ role: 'user', content: 'price me too' }] })
  for await (const _ of s) void _
  // 20 × 0.0000001 + 10 × 0.0000003 = 0.000002 + 0.000003
  await eventually(() => ours().length === before + 2)
  for (const c of ours().slice(before)) expect(c).toMatchObject({ inputTokens: 20, outputTokens: 10, cost: '0.000005', estimated: false })
})
