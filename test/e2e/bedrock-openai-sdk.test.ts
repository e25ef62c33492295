// The openai SDK, through Kortex, to AWS Bedrock (a test upstream speaking the
// Converse API and its binary event stream, checking every request's
// Signature V4): the client never knows it is not talking to OpenAI.
import OpenAI from 'openai'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { CREDS, FORCED_INPUT, REGION, TOOL_USE_ID, WEATHER_INPUT, startBedrockUpstream, type BedrockUpstream } from '../upstreams/bedrock.ts'
import { eventually, startTestKortex, type TestKortex } from '../helpers/kortex.ts'
import { modelRoute } from '../helpers/configs.ts'

let up: BedrockUpstream
let k: TestKortex
let client: OpenAI
const MODEL_ID = 'anthropic.claude-3-5-haiku-20241022-v1:0'

const backend = (name: string, mode: string, model = MODEL_ID, region = REGION) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: ${name} }
spec:
  type: external
  external:
    url: ${up.base(mode)}
    provider: bedrock
    region: ${region}
    model: ${model}
    accessKeyIdSecret: { name: bedrock-test, key: access-key-id }
    secretAccessKeySecret: { name: bedrock-test, key: secret-access-key }
    sessionTokenSecret: { name: bedrock-test, key: session-token }
  cost: { inputTokenCost: "0.0008", cachedInputTokenCost: "0.00008", cacheWriteTokenCost: "0.001", outputTokenCost: "0.004" }
`

beforeAll(async () => {
  process.env.BEDROCK_TEST_ACCESS_KEY_ID = CREDS.accessKeyId
  process.env.BEDROCK_TEST_SECRET_ACCESS_KEY = CREDS.secretAccessKey
  process.env.BEDROCK_TEST_SESSION_TOKEN = CREDS.sessionToken
  up = await startBedrockUpstream()
  k = await startTestKortex(
    `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { open: true } }
` +
      ['ok', 'tool', 'throttle', 'context', 'crc', 'cut', 'stream-throttle'].map((m) => backend(`br-${m}`, m)).join('') +
      backend('br-wrong-region', 'ok', MODEL_ID, 'eu-west-1') +
      backend('br-titan', 'ok', 'amazon.titan-embed-text-v2:0') +
      backend('br-cohere-embed', 'ok', 'cohere.embed-english-v3') +
      modelRoute('claude-ok', 'br-ok') +
      modelRoute('claude-tool', 'br-tool') +
      modelRoute('claude-crc', 'br-crc') +
      modelRoute('claude-cut', 'br-cut') +
      modelRoute('claude-throttled', 'br-throttle', ['br-ok']) +
      modelRoute('claude-stream-throttled', 'br-stream-throttle', ['br-ok']) +
      modelRoute('claude-context', 'br-context') +
      modelRoute('claude-context-fallback', 'br-context', ['br-ok']) +
      modelRoute('claude-wrong-region', 'br-wrong-region') +
      modelRoute('titan-embed', 'br-titan') +
      modelRoute('cohere-embed', 'br-cohere-embed'),
  )
  client = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: 'client-key', maxRetries: 0 })
})
afterAll(async () => {
  await k?.close()
  await up?.close()
})

const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }]

it('a chat becomes a signed Converse request and comes back as a chat.completion', async () => {
  const r = await client.chat.completions.create({ model: 'claude-ok', max_tokens: 200, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }] })
  expect(r.choices[0]!.message.content).toBe('Hello from ok')
  expect(r.choices[0]!.finish_reason).toBe('stop')
  expect(r.usage).toMatchObject({ prompt_tokens: 135, completion_tokens: 15, prompt_tokens_details: { cached_tokens: 100 } })
  const sent = up.last!
  expect(sent.signed).toBe(true)
  expect(sent.path).toBe(`/mode/ok/model/${encodeURIComponent(MODEL_ID)}/converse`)
  expect(sent.headers['x-amz-security-token']).toBe(CREDS.sessionToken)
  expect(sent.body).toEqual({ system: [{ text: 'Be brief.' }], messages: [{ role: 'user', content: [{ text: 'hi' }] }], inferenceConfig: { maxTokens: 200 } })
})

it('a stream arrives as OpenAI chunks, decoded from the binary event stream, with the usage chunk last', async () => {
  const stream = await client.chat.completions.create({ model: 'claude-ok', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] })
  let text = ''
  let usage: OpenAI.CompletionUsage | undefined | null
  let finish: string | null | undefined
  for await (const c of stream) {
    text += c.choices[0]?.delta.content ?? ''
    finish = c.choices[0]?.finish_reason ?? finish
    if (c.usage) usage = c.usage
  }
  expect(text).toBe('Hello from ok')
  expect(finish).toBe('stop')
  expect(usage).toMatchObject({ prompt_tokens: 135, completion_tokens: 15 })
  expect(up.last!.path).toMatch(/\/converse-stream$/)
  expect(up.last!.signed).toBe(true)
})

it('tools: a toolUse comes back as a tool call, whole and streamed, and the result goes back as a toolResult', async () => {
  const r = await client.chat.completions.create({ model: 'claude-tool', messages: [{ role: 'user', content: 'weather in Seattle?' }], tools })
  const call = r.choices[0]!.message.tool_calls![0]!
  expect(r.choices[0]!.finish_reason).toBe('tool_calls')
  expect(call.type === 'function' && [call.id, call.function.name, JSON.parse(call.function.arguments)]).toEqual([TOOL_USE_ID, 'get_weather', WEATHER_INPUT])
  expect(up.last!.body.toolConfig.tools[0]).toEqual({ toolSpec: { name: 'get_weather', description: 'Weather', inputSchema: { json: tools[0]!.function.parameters } } })

  const final = await client.chat.completions.stream({ model: 'claude-tool', messages: [{ role: 'user', content: 'weather in Seattle?' }], tools }).finalChatCompletion()
  const streamed = final.choices[0]!.message.tool_calls![0]!
  expect(streamed.type === 'function' && JSON.parse(streamed.function.arguments)).toEqual(WEATHER_INPUT)
  expect(final.choices[0]!.finish_reason).toBe('tool_calls')

  const next = await client.chat.completions.create({
    model: 'claude-tool',
    tools,
    messages: [{ role: 'user', content: 'weather in Seattle?' }, r.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: '12°C, rain' }],
  })
  expect(next.choices[0]!.message.content).toBe('The tool said: 12°C, rain')
  expect(up.last!.body.messages.at(-1)).toEqual({ role: 'user', content: [{ toolResult: { toolUseId: TOOL_USE_ID, content: [{ text: '12°C, rain' }] } }] })
})

it('a follow-up that sends the tool turn but no tools (a summary) is answered: the tools the history used are declared for Converse', async () => {
  const r = await client.chat.completions.create({ model: 'claude-tool', messages: [{ role: 'user', content: 'weather in Seattle?' }], tools })
  const call = r.choices[0]!.message.tool_calls![0]!
  const summary = await client.chat.completions.create({
    model: 'claude-ok',
    messages: [{ role: 'user', content: 'weather in Seattle?' }, r.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: '12°C, rain' }, { role: 'user', content: 'Say it in one line.' }],
  })
  expect(summary.choices[0]!.finish_reason).toBe('stop')
  expect(up.last!.body.toolConfig.tools.map((t: any) => t.toolSpec.name)).toEqual(['get_weather'])
})

it('response_format json_schema: the answer is JSON fitting the schema, whole and streamed (a forced tool upstream, as Converse has no JSON mode)', async () => {
  const schema = { type: 'object', properties: { city: { type: 'string' }, temperature: { type: 'number' } }, required: ['city', 'temperature'], additionalProperties: false }
  const response_format = { type: 'json_schema' as const, json_schema: { name: 'weather', schema, strict: true } }
  const whole = await client.chat.completions.create({ model: 'claude-ok', messages: [{ role: 'user', content: 'Weather in Paris as JSON' }], response_format })
  expect(JSON.parse(whole.choices[0]!.message.content!)).toEqual(FORCED_INPUT)
  expect(whole.choices[0]!.finish_reason).toBe('stop')
  expect(whole.choices[0]!.message.tool_calls).toBeUndefined()
  expect(up.last!.body.toolConfig).toMatchObject({ tools: [{ toolSpec: { name: 'weather', inputSchema: { json: schema } } }], toolChoice: { tool: { name: 'weather' } } })
  const streamed = await client.chat.completions.stream({ model: 'claude-ok', messages: [{ role: 'user', content: 'Weather in Paris as JSON' }], response_format }).finalChatCompletion()
  expect(JSON.parse(streamed.choices[0]!.message.content!)).toEqual(FORCED_INPUT)
  expect(streamed.choices[0]!.finish_reason).toBe('stop')
  expect(up.last!.path).toMatch(/\/converse-stream$/)
})

it('tool_choice none: no toolConfig goes upstream, so the model answers in text', async () => {
  const r = await client.chat.completions.create({ model: 'claude-tool', messages: [{ role: 'user', content: 'weather in Seattle?' }], tools, tool_choice: 'none' })
  expect(up.last!.body.toolConfig).toBeUndefined()
  expect(r.choices[0]!.message.tool_calls).toBeUndefined()
})

it('a ThrottlingException fails over to the next backend, whole and streamed', async () => {
  const { data, response } = await client.chat.completions.create({ model: 'claude-throttled', messages: [{ role: 'user', content: 'hi' }] }).withResponse()
  expect(data.choices[0]!.message.content).toBe('Hello from ok')
  expect(response.headers.get('x-kortex-backend')).toBe('br-ok')
  const stream = await client.chat.completions.create({ model: 'claude-stream-throttled', stream: true, messages: [{ role: 'user', content: 'hi' }] })
  let text = ''
  for await (const c of stream) text += c.choices[0]?.delta.content ?? ''
  expect(text).toBe('Hello from ok')
})

it('"Input is too long" is the client\'s context_length_exceeded', async () => {
  const err = await client.chat.completions.create({ model: 'claude-context', messages: [{ role: 'user', content: 'long' }] }).catch((e) => e)
  expect(err).toBeInstanceOf(OpenAI.BadRequestError)
  expect(err.code).toBe('context_length_exceeded')
})

it('"Input is too long" fails over to a backend that may fit it, when the route has one', async () => {
  const { data, response } = await client.chat.completions.create({ model: 'claude-context-fallback', messages: [{ role: 'user', content: 'long' }] }).withResponse()
  expect(data.choices[0]!.message.content).toBe('Hello from ok')
  expect(response.headers.get('x-kortex-backend')).toBe('br-ok')
})

it('a signature for the wrong region is refused by the upstream, and never looks like the client\'s fault', async () => {
  const err = await client.chat.completions.create({ model: 'claude-wrong-region', messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e)
  expect(up.last!.signed).toBe(false)
  expect(err.status).toBe(502)
})

for (const [model, what, sofar] of [['claude-crc', 'a corrupted CRC32', 'Hello'], ['claude-cut', 'a body cut inside its last frame', 'Hello from cut']] as const) {
  it(`${what} reaches the client as an error after the text so far, not as a clean end`, async () => {
    const stream = await client.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: 'hi' }] })
    let text = ''
    const err = await (async () => {
      for await (const c of stream) text += c.choices[0]?.delta.content ?? ''
    })().catch((e) => e)
    expect(err).toBeInstanceOf(OpenAI.APIError)
    expect(text).toBe(sofar)
  })
}

it('embeddings go to Titan, one text per call, in order', async () => {
  const r = await client.embeddings.create({ model: 'titan-embed', input: ['one two', 'three'] })
  expect(r.data.map((d) => d.index)).toEqual([0, 1])
  const [a, b, c] = r.data[0]!.embedding
  expect([a, b]).toEqual([0.125, -0.5])
  expect(c).toBeCloseTo(0.07, 6)
  const floats = await client.embeddings.create({ model: 'titan-embed', input: 'one two', encoding_format: 'float' })
  expect(floats.data[0]!.embedding[2]).toBe(0.07)
  expect(r.usage.prompt_tokens).toBe(3)
  expect(up.requests.at(-2)!.body).toEqual({ inputText: 'three' })
  expect(up.last!.path).toBe(`/mode/ok/model/${encodeURIComponent('amazon.titan-embed-text-v2:0')}/invoke`)
})

it('embeddings go to Cohere Embed as one call, documents, with the token count from its header', async () => {
  const before = up.requests.length
  const r = await client.embeddings.create({ model: 'cohere-embed', input: ['one two', 'three'], encoding_format: 'float' })
  expect(r.data.map((d) => d.embedding)).toEqual([[0.7, 0.25], [0.5, 0.25]])
  expect(r.usage.prompt_tokens).toBe(3)
  expect(up.requests.length - before).toBe(1)
  expect(up.last!.body).toEqual({ texts: ['one two', 'three'], input_type: 'search_document' })
})

it('cost: cache reads and writes priced apart, the same for a whole answer and a stream', async () => {
  const ours = () => k.records.filter((x) => x.type === 'cost' && x.model === 'claude-ok')
  const before = ours().length
  await client.chat.completions.create({ model: 'claude-ok', messages: [{ role: 'user', content: 'price me' }] })
  const s = await client.chat.completions.create({ model: 'claude-ok', stream: true, messages: [{ role: 'user', content: 'price me too' }] })
  for await (const _ of s) void _
  // 25 input × 0.0000008 + 100 cache reads × 0.00000008 + 10 cache writes × 0.000001 + 15 output × 0.000004
  // = 0.00002 + 0.000008 + 0.00001 + 0.00006 = 0.000098
  await eventually(() => ours().length === before + 2)
  for (const c of ours().slice(before)) expect(c).toMatchObject({ inputTokens: 135, outputTokens: 15, cachedInputTokens: 100, cost: '0.000098', currency: 'USD', estimated: false })
})
