// The openai SDK, through Kortex, to a native Cohere v2 backend: chat,
// streams with usage, a tool round trip, embeddings, failover and cost.
import OpenAI from 'openai'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { CHAT_ID, TOOL_CALL_ID, WEATHER_ARGS, startCohereUpstream, vectorOf, type CohereUpstream } from '../upstreams/cohere.ts'
import { eventually, startTestKortex, type TestKortex } from '../helpers/kortex.ts'
import { modelRoute } from '../helpers/configs.ts'

let up: CohereUpstream
let k: TestKortex
let client: OpenAI
const KEY = 'co-test-not-a-real-key-123'

const backend = (name: string, mode: string, model = 'command-a-03-2025') => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: ${name} }
spec:
  type: external
  external: { url: ${up.base(mode)}, provider: cohere, model: ${model}, apiKeySecret: { name: cohere, key: key } }
  cost: { inputTokenCost: "0.0025", outputTokenCost: "0.01" }
`

beforeAll(async () => {
  process.env.COHERE_KEY = KEY
  up = await startCohereUpstream()
  const modes = ['ok', 'tool', '429', 'context', 'stream-error', 'cut']
  k = await startTestKortex(
    `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { open: true } }
` +
      modes.map((m) => backend(`co-${m}`, m)).join('') +
      backend('co-embed', 'ok', 'embed-v4.0') +
      modes.map((m) => modelRoute(`co-${m}`, `co-${m}`)).join('') +
      modelRoute('co-embed', 'co-embed') +
      modelRoute('co-busy', 'co-429', ['co-ok']),
  )
  client = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: 'client-key', maxRetries: 0 })
})
afterAll(async () => {
  await k?.close()
  await up?.close()
})

const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } } }]

it('a chat goes to /v2/chat in Cohere form and comes back a chat.completion, citations dropped', async () => {
  const r = await client.chat.completions.create({
    model: 'co-ok',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
    ],
    top_p: 0.9,
    stop: 'END',
    max_completion_tokens: 50,
    seed: 7,
  })
  expect(r.choices[0]!.message.content).toBe('Hello from ok')
  expect(r.choices[0]!.finish_reason).toBe('stop')
  expect(r.id).toBe(CHAT_ID)
  expect(r.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 })
  expect(JSON.stringify(r)).not.toContain('citations')
  const sent = up.last!
  expect(sent.path).toMatch(/\/v2\/chat$/)
  expect(sent.headers.authorization).toBe(`Bearer ${KEY}`)
  expect(sent.body).toEqual({
    model: 'command-a-03-2025',
    stream: false,
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
    ],
    p: 0.9,
    stop_sequences: ['END'],
    max_tokens: 50,
    seed: 7,
  })
})

it('a stream arrives as OpenAI chunks with the usage chunk last', async () => {
  const stream = await client.chat.completions.create({ model: 'co-ok', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] })
  let text = ''
  const chunks = []
  for await (const c of stream) {
    chunks.push(c)
    text += c.choices[0]?.delta.content ?? ''
  }
  expect(text).toBe('Hello from ok')
  expect(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0]!.finish_reason).toBe('stop')
  expect(chunks.at(-1)!.choices).toEqual([])
  expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 7 })
  expect(up.last!.body.stream).toBe(true)
})

it('a stream without include_usage gets no usage chunk', async () => {
  const stream = await client.chat.completions.create({ model: 'co-ok', stream: true, messages: [{ role: 'user', content: 'hi' }] })
  const chunks = []
  for await (const c of stream) chunks.push(c)
  expect(chunks.some((c) => c.usage)).toBe(false)
})

it('tools: a call, its result sent back, the answer — the round trip in Cohere form', async () => {
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'weather in Toronto?' }]
  const first = await client.chat.completions.create({ model: 'co-tool', messages, tools, tool_choice: 'required' })
  expect(up.last!.body).toMatchObject({ tool_choice: 'REQUIRED', tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }] })
  const choice = first.choices[0]!
  expect(choice.finish_reason).toBe('tool_calls')
  const call = choice.message.tool_calls![0]!
  expect(call.id).toBe(TOOL_CALL_ID)
  expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual(WEATHER_ARGS)

  messages.push(choice.message, { role: 'tool', tool_call_id: call.id, content: '21°C, sunny' })
  const second = await client.chat.completions.create({ model: 'co-tool', messages, tools })
  expect(second.choices[0]!.message.content).toBe('The tool said: 21°C, sunny')
  const sent = up.last!.body
  expect(sent.tool_choice).toBeUndefined()
  expect(sent.messages[1]).toMatchObject({ role: 'assistant', tool_calls: [{ id: TOOL_CALL_ID, type: 'function', function: { name: 'get_weather' } }] })
  expect(sent.messages[2]).toEqual({ role: 'tool', tool_call_id: TOOL_CALL_ID, content: '21°C, sunny' })
})

it('a streamed tool call arrives as deltas the SDK reassembles; the tool plan is not the answer', async () => {
  const final = await client.chat.completions.stream({ model: 'co-tool', messages: [{ role: 'user', content: 'weather?' }], tools, stream_options: { include_usage: true } }).finalChatCompletion()
  const call = final.choices[0]!.message.tool_calls![0]!
  expect(call.id).toBe(TOOL_CALL_ID)
  expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual(WEATHER_ARGS)
  expect(final.choices[0]!.finish_reason).toBe('tool_calls')
  expect(final.choices[0]!.message.content ?? '').toBe('')
  expect(final.usage?.prompt_tokens).toBe(12)
})

it('embeddings: the SDK default (base64) decodes to the vectors Cohere sent', async () => {
  const r = await client.embeddings.create({ model: 'co-embed', input: ['hello', 'a longer text'] })
  expect(r.data.map((d) => d.embedding)).toEqual([vectorOf('hello'), vectorOf('a longer text')])
  expect(r.usage.prompt_tokens).toBe(4)
  expect(up.last!.path).toMatch(/\/v2\/embed$/)
  expect(up.last!.body).toEqual({ model: 'embed-v4.0', texts: ['hello', 'a longer text'], input_type: 'search_document', embedding_types: ['float'] })
  const floats = await client.embeddings.create({ model: 'co-embed', input: 'hello', encoding_format: 'float' })
  expect(floats.data[0]!.embedding).toEqual(vectorOf('hello'))
})

it('a Cohere 429 fails over to the next backend', async () => {
  const before = up.requests.length
  const r = await client.chat.completions.create({ model: 'co-busy', messages: [{ role: 'user', content: 'hi' }] })
  expect(r.choices[0]!.message.content).toBe('Hello from ok')
  expect(up.requests.slice(before).map((x) => x.path.split('/')[2])).toEqual(['429', 'ok'])
})

it('"too many tokens" is a context-window error for the client', async () => {
  const err = await client.chat.completions.create({ model: 'co-context', messages: [{ role: 'user', content: 'long' }] }).catch((e) => e)
  expect(err).toBeInstanceOf(OpenAI.APIError)
  expect(err.status).toBe(400)
  expect(err.code).toBe('context_length_exceeded')
})

it('a stream that ends with finish_reason ERROR, or is cut, reaches the SDK as an error', async () => {
  for (const model of ['co-stream-error', 'co-cut']) {
    const stream = await client.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: 'hi' }] })
    const err = await (async () => {
      for await (const _ of stream);
    })().catch((e) => e)
    expect(err, model).toBeInstanceOf(OpenAI.APIError)
  }
})

it('cost: billed units priced, the same for a whole answer and a stream', async () => {
  const ours = () => k.records.filter((x) => x.type === 'cost' && x.model === 'co-ok')
  const before = ours().length
  await client.chat.completions.create({ model: 'co-ok', messages: [{ role: 'user', content: 'price me' }] })
  const s = await client.chat.completions.create({ model: 'co-ok', stream: true, messages: [{ role: 'user', content: 'price me too' }] })
  for await (const _ of s) void _
  // 12 billed input × 0.0000025 + 7 billed output × 0.00001 = 0.00003 + 0.00007
  await eventually(() => ours().length === before + 2)
  for (const c of ours().slice(before)) expect(c).toMatchObject({ inputTokens: 12, outputTokens: 7, cost: '0.0001', estimated: false })
})
