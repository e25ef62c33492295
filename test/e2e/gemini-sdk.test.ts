// The openai SDK, through Kortex, to Gemini (API key) and Vertex AI (a
// service-account key signed into a JWT, exchanged for a token): the client
// never knows it is not talking to OpenAI.
import OpenAI from 'openai'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { API_KEY, MODEL_VERSION, THOUGHT_SIGNATURE, WEATHER_ARGS, startGeminiUpstream, type GeminiUpstream } from '../upstreams/gemini.ts'
import { eventually, startTestKortex, type TestKortex } from '../helpers/kortex.ts'
import { modelRoute } from '../helpers/configs.ts'

let up: GeminiUpstream
let k: TestKortex
let client: OpenAI

const backend = (name: string, provider: 'gemini' | 'vertex', mode: string, model = 'gemini-2.5-flash') => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: ${name} }
spec:
  type: external
  external:
    url: ${up.base(mode)}
    provider: ${provider === 'gemini' ? 'Gemini' : 'vertex'}
    model: ${model}
    ${provider === 'gemini' ? `apiKeySecret: { name: ${mode === 'badkey' ? 'gemini-old' : 'gemini'}, key: api-key }` : 'apiKeySecret: { name: vertex-sa, key: key.json }\n    project: test-project\n    location: us-central1'}
  cost: { inputTokenCost: "0.0003", cachedInputTokenCost: "0.000075", outputTokenCost: "0.0025" }
`

beforeAll(async () => {
  up = await startGeminiUpstream()
  process.env.GEMINI_API_KEY = API_KEY
  process.env.GEMINI_OLD_API_KEY = 'gemini-test-key-revoked'
  process.env.VERTEX_SA_KEY_JSON = up.serviceAccount
  k = await startTestKortex(
    `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { open: true } }
` +
      backend('gemini-ok', 'gemini', 'ok') +
      backend('gemini-429', 'gemini', '429') +
      backend('gemini-context', 'gemini', 'context') +
      backend('gemini-blocked', 'gemini', 'blocked') +
      backend('gemini-safety', 'gemini', 'safety') +
      backend('gemini-badkey', 'gemini', 'badkey') +
      backend('vertex-ok', 'vertex', 'ok') +
      backend('vertex-blocked', 'vertex', 'blocked') +
      backend('vertex-claude', 'vertex', 'ok', 'claude-sonnet-4-5@20250929') +
      modelRoute('claude', 'vertex-claude') +
      modelRoute('gemini', 'gemini-ok') +
      modelRoute('vertex', 'vertex-ok') +
      modelRoute('busy', 'gemini-429', ['vertex-ok']) +
      modelRoute('too-long', 'gemini-context', ['vertex-ok']) +
      modelRoute('blocked', 'gemini-blocked', ['vertex-ok']) +
      modelRoute('blocked-stream', 'vertex-blocked', ['gemini-ok']) +
      modelRoute('safety', 'gemini-safety') +
      modelRoute('priced', 'gemini-ok') +
      modelRoute('badkey', 'gemini-badkey', ['vertex-ok']),
  )
  client = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: 'client-key', maxRetries: 0 })
})
afterAll(async () => {
  await k?.close()
  await up?.close()
})

const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { location: { type: 'string' } }, additionalProperties: false } } }]

it('a chat with a system message becomes a generateContent request and comes back as a chat.completion', async () => {
  const r = await client.chat.completions.create({
    model: 'gemini',
    max_tokens: 50,
    temperature: 0.2,
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
    ],
  })
  expect(r.object).toBe('chat.completion')
  expect(r.choices[0]!.message.content).toBe('Hello from ok')
  expect(r.choices[0]!.finish_reason).toBe('stop')
  expect(r.model).toBe(MODEL_VERSION)
  expect(r.usage).toMatchObject({ prompt_tokens: 120, completion_tokens: 20, total_tokens: 140, prompt_tokens_details: { cached_tokens: 100 } })
  const sent = up.last!
  expect(sent.path).toBe('/v1beta/models/gemini-2.5-flash:generateContent')
  expect(sent.headers['x-goog-api-key']).toBe(API_KEY)
  expect(sent.headers.authorization).toBeUndefined()
  expect(sent.body).toEqual({
    contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
    systemInstruction: { parts: [{ text: 'Be brief.' }] },
    generationConfig: { maxOutputTokens: 50, temperature: 0.2 },
  })
})

it('a stream arrives as chunks the SDK reads, with a usage chunk at the end', async () => {
  const stream = await client.chat.completions.create({ model: 'gemini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] })
  let text = ''
  let finish: string | null | undefined
  let usage: OpenAI.CompletionUsage | undefined | null
  for await (const c of stream) {
    text += c.choices[0]?.delta?.content ?? ''
    finish ??= c.choices[0]?.finish_reason
    if (c.usage) usage = c.usage
  }
  expect(text).toBe('Hello from ok')
  expect(finish).toBe('stop')
  expect(usage).toMatchObject({ prompt_tokens: 120, completion_tokens: 20, prompt_tokens_details: { cached_tokens: 100 } })
  expect(up.last!.path).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse')
})

it('tools: a function call comes back as a tool call, and its result goes back as a functionResponse', async () => {
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'weather in SF?' }]
  const first = await client.chat.completions.create({ model: 'vertex', messages, tools, tool_choice: 'required' })
  const call = first.choices[0]!.message.tool_calls![0]!
  expect(first.choices[0]!.finish_reason).toBe('tool_calls')
  expect(call.type === 'function' && call.function.name).toBe('get_weather')
  expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual(WEATHER_ARGS)
  expect(up.last!.body.tools).toEqual([{ functionDeclarations: [{ name: 'get_weather', description: 'Weather', parametersJsonSchema: tools[0]!.function.parameters }] }])
  expect(up.last!.body.toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY' } })

  messages.push(first.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: '{"temperature": 18}' })
  const second = await client.chat.completions.create({ model: 'vertex', messages })
  expect(second.choices[0]!.message.content).toBe('The tool said: {"temperature":18}')
  expect(up.last!.body.contents).toEqual([
    { role: 'user', parts: [{ text: 'weather in SF?' }] },
    { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: WEATHER_ARGS }, thoughtSignature: THOUGHT_SIGNATURE }] },
    { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temperature: 18 } } }] },
  ])
})

it('a streamed tool call arrives as tool-call deltas the SDK reassembles', async () => {
  const stream = client.chat.completions.stream({ model: 'gemini', messages: [{ role: 'user', content: 'weather?' }], tools, stream_options: { include_usage: true } })
  const final = await stream.finalChatCompletion()
  const call = final.choices[0]!.message.tool_calls![0]!
  expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual(WEATHER_ARGS)
  expect(final.choices[0]!.finish_reason).toBe('tool_calls')
})

it('JSON mode with a schema: responseMimeType and responseJsonSchema, and the SDK parses the answer', async () => {
  const schema = { type: 'object', properties: { city: { type: 'string' }, temperature: { type: 'number' } }, required: ['city', 'temperature'], additionalProperties: false }
  const r = await client.chat.completions.create({ model: 'gemini', messages: [{ role: 'user', content: 'weather as JSON' }], response_format: { type: 'json_schema', json_schema: { name: 'weather', schema, strict: true } } })
  expect(up.last!.body.generationConfig).toEqual({ responseMimeType: 'application/json', responseJsonSchema: schema })
  const parsed = JSON.parse(r.choices[0]!.message.content!)
  expect(typeof parsed.city).toBe('string')
  expect(typeof parsed.temperature).toBe('number')
})

it('Vertex: the service-account JWT is exchanged once, and the token serves many calls', async () => {
  const before = up.tokenRequests.length
  await Promise.all([1, 2, 3, 4].map(() => client.chat.completions.create({ model: 'vertex', messages: [{ role: 'user', content: 'hi' }] })))
  await client.chat.completions.create({ model: 'vertex', messages: [{ role: 'user', content: 'again' }] })
  // The first vertex test may already have fetched it: at most one, ever.
  expect(up.tokenRequests.length).toBe(1)
  expect(before).toBeLessThanOrEqual(1)
  const last = up.last!
  expect(last.path).toBe('/v1/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent')
  expect(last.headers.authorization).toBe('Bearer ya29.test-1')
  expect(last.headers['x-goog-api-key']).toBeUndefined()
})

it('a 429 (RESOURCE_EXHAUSTED) fails over to the next backend', async () => {
  const r = await client.chat.completions.create({ model: 'busy', messages: [{ role: 'user', content: 'hi' }] })
  expect(r.choices[0]!.message.content).toBe('Hello from ok')
  expect(up.requests.at(-2)!.headers['x-goog-api-key']).toBe(API_KEY) // the Gemini attempt
  expect(up.last!.path).toContain('/v1/projects/test-project/')
})

it('a prompt over the token limit (INVALID_ARGUMENT) fails over as a context-window error', async () => {
  const r = await client.chat.completions.create({ model: 'too-long', messages: [{ role: 'user', content: 'hi' }] })
  expect(r.choices[0]!.message.content).toBe('Hello from ok')
})

it('a revoked API key (400 API_KEY_INVALID) is our credentials failing: another backend answers', async () => {
  const r = await client.chat.completions.create({ model: 'badkey', messages: [{ role: 'user', content: 'hi' }] })
  expect(r.choices[0]!.message.content).toBe('Hello from ok')
  expect(up.requests.at(-2)!.headers['x-goog-api-key']).toBe('gemini-test-key-revoked')
})

it('a prompt blocked by safety filters is a clear 400, not an empty answer, and is not retried elsewhere', async () => {
  const n = up.requests.length
  const err = await client.chat.completions.create({ model: 'blocked', messages: [{ role: 'user', content: 'something bad' }] }).catch((e) => e)
  expect(err).toBeInstanceOf(OpenAI.BadRequestError)
  expect(err.code).toBe('content_policy_violation')
  expect(err.message).toContain('SAFETY')
  expect(up.requests.length).toBe(n + 1)
})

it('a streamed blocked prompt is the same clear error', async () => {
  const err = await (async () => {
    const s = await client.chat.completions.create({ model: 'blocked-stream', stream: true, messages: [{ role: 'user', content: 'something bad' }] })
    for await (const _ of s) void _
  })().catch((e) => e)
  expect(err).toBeInstanceOf(OpenAI.BadRequestError)
  expect(err.code).toBe('content_policy_violation')
})

it('an answer stopped by SAFETY finishes with content_filter', async () => {
  const r = await client.chat.completions.create({ model: 'safety', messages: [{ role: 'user', content: 'hi' }] })
  expect(r.choices[0]!.finish_reason).toBe('content_filter')
})

it('embeddings: batchEmbedContents for Gemini, predict for Vertex, as an OpenAI list', async () => {
  const g = await client.embeddings.create({ model: 'gemini', input: ['one', 'three'] })
  expect(g.data.map((d) => d.embedding)).toEqual([
    [0, 3, 0.5],
    [1, 5, 0.5],
  ])
  expect(up.last!.path).toBe('/v1beta/models/gemini-2.5-flash:batchEmbedContents')
  expect(up.last!.body.requests[0]).toEqual({ model: 'models/gemini-2.5-flash', content: { parts: [{ text: 'one' }] } })
  const v = await client.embeddings.create({ model: 'vertex', input: 'hello', encoding_format: 'float' })
  expect(v.data[0]!.embedding).toEqual([0, 5, 0.25])
  expect(v.usage.prompt_tokens).toBe(4)
  expect(up.last!.path).toMatch(/:predict$/)
})

it('cost: cached prompt tokens priced apart, thinking tokens as output, the same for a whole answer and a stream', async () => {
  const ours = () => k.records.filter((x) => x.type === 'cost' && x.model === 'priced')
  const before = ours().length
  await client.chat.completions.create({ model: 'priced', messages: [{ role: 'user', content: 'price me' }] })
  const s = await client.chat.completions.create({ model: 'priced', stream: true, messages: [{ role: 'user', content: 'price me too' }] })
  for await (const _ of s) void _
  // 20 plain input × 0.0000003 + 100 cached × 0.000000075 + (15 + 5 thinking) output × 0.0000025
  // = 0.000006 + 0.0000075 + 0.00005 = 0.0000635
  await eventually(() => ours().length === before + 2)
  for (const c of ours().slice(before)) expect(c).toMatchObject({ inputTokens: 120, outputTokens: 20, cachedInputTokens: 100, cost: '0.0000635', currency: 'USD', estimated: false })
})

it('Claude on Vertex: rawPredict with the Anthropic Messages body, whole and streamed', async () => {
  const r = await client.chat.completions.create({ model: 'claude', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }] })
  expect(r.choices[0]!.message.content).toBe('Hello from Claude')
  expect(r.usage).toMatchObject({ prompt_tokens: 20, completion_tokens: 6 })
  expect(up.last!.path).toBe('/v1/projects/test-project/locations/us-central1/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict')
  expect(up.last!.body).toMatchObject({ anthropic_version: 'vertex-2023-10-16', system: 'Be brief.', messages: [{ role: 'user' }] })
  expect(up.last!.headers.authorization).toMatch(/^Bearer ya29\./)
  const s = await client.chat.completions.create({ model: 'claude', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] })
  let text = ''
  let usage: OpenAI.CompletionUsage | null | undefined
  for await (const c of s) {
    text += c.choices[0]?.delta?.content ?? ''
    if (c.usage) usage = c.usage
  }
  expect(text).toBe('Hello from Claude')
  expect(usage?.completion_tokens).toBe(6)
  expect(up.last!.path).toMatch(/:streamRawPredict$/)
})
