// The openai SDK, through Kortex, to an Anthropic backend: the client never
// knows it is not talking to OpenAI.
import OpenAI from 'openai'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startAnthropicUpstream, WEATHER_INPUT, type AnthropicUpstream } from '../upstreams/anthropic.ts'
import { eventually, startTestKortex, type TestKortex } from '../helpers/kortex.ts'

let up: AnthropicUpstream
let k: TestKortex
let client: OpenAI
const KEY = 'test-ant-test-not-a-real-key'

const backend = (name: string, mode: string) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: ${name} }
spec:
  type: external
  external: { url: ${up.base(mode)}, provider: Anthropic, model: claude-sonnet-4-5, apiKeySecret: { name: anthropic, key: key } }
  cost: { inputTokenCost: "0.003", cachedInputTokenCost: "0.0003", cacheWriteTokenCost: "0.00375", outputTokenCost: "0.015" }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r-${name} }
spec: { models: [${name}], defaultBackend: { name: ${name} } }
`

beforeAll(async () => {
  process.env.ANTHROPIC_KEY = KEY
  up = await startAnthropicUpstream()
  k = await startTestKortex(
    `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { open: true } }
` + ['ok', 'tool', 'stream-error', '429'].map((m) => backend(`claude-${m}`, m)).join(''),
  )
  client = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: 'client-key', maxRetries: 0 })
})
afterAll(async () => {
  await k?.close()
  await up?.close()
})

const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }]

it('a chat with a system message becomes a Messages request and comes back as a chat.completion', async () => {
  const r = await client.chat.completions.create({
    model: 'claude-ok',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
    ],
  })
  expect(r.object).toBe('chat.completion')
  expect(r.choices[0]!.message.content).toBe('Hello from ok')
  expect(r.choices[0]!.finish_reason).toBe('stop')
  expect(r.usage!.completion_tokens).toBe(15)
  const sent = up.last!
  expect(sent.body).toMatchObject({ model: 'claude-sonnet-4-5', system: 'Be brief.', messages: [{ role: 'user' }] })
  expect(sent.body.max_tokens).toBeGreaterThan(0)
  expect(sent.headers['x-api-key']).toBe(KEY)
  expect(sent.headers.authorization).toBeUndefined()
})

it('a streamed tool call arrives as OpenAI tool-call deltas the SDK reassembles', async () => {
  const stream = client.chat.completions.stream({ model: 'claude-tool', messages: [{ role: 'user', content: 'weather in SF?' }], tools, stream_options: { include_usage: true } })
  const final = await stream.finalChatCompletion()
  const call = final.choices[0]!.message.tool_calls![0]!
  expect(call.type === 'function' && call.function.name).toBe('get_weather')
  expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual(WEATHER_INPUT)
  expect(final.choices[0]!.finish_reason).toBe('tool_calls')
  expect(final.usage?.completion_tokens).toBeGreaterThan(0)
  expect(up.last!.body.tools[0]).toMatchObject({ name: 'get_weather', input_schema: { type: 'object' } })
})

it("an Anthropic error event after text reaches the SDK as an error", async () => {
  const stream = await client.chat.completions.create({ model: 'claude-stream-error', stream: true, messages: [{ role: 'user', content: 'hi' }] })
  const err = await (async () => {
    for await (const _ of stream);
  })().catch((e) => e)
  expect(err).toBeInstanceOf(OpenAI.APIError)
})

it('an Anthropic 429 is a 429 with Retry-After for the client', async () => {
  const res = await fetch(`${k.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'claude-429', messages: [{ role: 'user', content: 'x' }] }) })
  expect(res.status).toBe(429)
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
  expect(JSON.stringify(await res.json())).not.toContain(KEY)
})

it('cost: cache reads and writes priced apart, the same for a whole answer and a stream', async () => {
  const ours = () => k.records.filter((x) => x.type === 'cost' && x.model === 'claude-ok')
  const before = ours().length
  const r = await client.chat.completions.create({ model: 'claude-ok', messages: [{ role: 'user', content: 'price me' }] })
  const s = await client.chat.completions.create({ model: 'claude-ok', stream: true, messages: [{ role: 'user', content: 'price me too' }] })
  for await (const _ of s) void _
  // 25 input × 0.000003 + 100 cache reads × 0.0000003 + 10 cache writes × 0.00000375 + 15 output × 0.000015
  // = 0.000075 + 0.00003 + 0.0000375 + 0.000225 = 0.0003675
  await eventually(() => ours().length === before + 2)
  const costs = ours().slice(before)
  for (const c of costs) expect(c).toMatchObject({ inputTokens: 135, outputTokens: 15, cachedInputTokens: 100, cost: '0.0003675', currency: 'USD', estimated: false })
  expect(r.id).toBeTruthy()
})
