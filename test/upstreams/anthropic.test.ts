// The Anthropic test upstream, proved with the real @anthropic-ai/sdk pointed
// straight at it: thinking blocks, cache usage, tool round trips, count_tokens,
// and a record of each request's raw body and headers.
import Anthropic from '@anthropic-ai/sdk'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { countTokens, startAnthropicUpstream, THINKING, THINKING_SIGNATURE, TOOL_USE_ID, type AnthropicUpstream } from './anthropic.ts'

let up: AnthropicUpstream
const client = (mode = 'ok', extra: ConstructorParameters<typeof Anthropic>[0] = {}) => new Anthropic({ baseURL: up.base(mode), apiKey: 'test-ant-direct', maxRetries: 0, ...extra })

beforeAll(async () => {
  up = await startAnthropicUpstream()
})
afterAll(async () => {
  await up?.close()
})

it('records the raw body and headers as the SDK sent them', async () => {
  const system = [{ type: 'text' as const, text: 'Long context.', cache_control: { type: 'ephemeral' as const } }]
  await client('ok', { defaultHeaders: { 'anthropic-beta': 'context-1m-2025-08-07' } }).messages.create({ model: 'claude-sonnet-5-5', max_tokens: 64, system, messages: [{ role: 'user', content: 'hi' }] })
  const got = up.last!
  expect(JSON.parse(got.text!)).toEqual(got.body)
  expect(got.body.system).toEqual(system)
  expect(got.headers['anthropic-beta']).toBe('context-1m-2025-08-07')
  expect(got.headers['anthropic-version']).toBeTruthy()
  expect(got.headers.authorization ?? got.headers['x-api-key']).toContain('test-ant-direct')
})

it('thinking mode: a thinking block with its signature, then the text, in JSON and in the stream; cache usage in both', async () => {
  const params = { model: 'claude-sonnet-5-5', max_tokens: 2048, thinking: { type: 'enabled' as const, budget_tokens: 1024 }, messages: [{ role: 'user' as const, content: 'hi' }] }
  const m = await client('thinking').messages.create(params)
  expect(m.content).toEqual([
    { type: 'thinking', thinking: THINKING, signature: THINKING_SIGNATURE },
    { type: 'text', text: 'Hello from thinking' },
  ])
  expect(m.usage).toMatchObject({ cache_read_input_tokens: 100, cache_creation_input_tokens: 10 })

  const stream = client('thinking').messages.stream(params)
  let thinking = ''
  stream.on('thinking', (delta) => (thinking += delta))
  const final = await stream.finalMessage()
  expect(thinking).toBe(THINKING)
  expect(final.content).toEqual(m.content)
  expect(final.usage).toMatchObject({ input_tokens: 25, output_tokens: 15, cache_read_input_tokens: 100, cache_creation_input_tokens: 10 })
})

it('tool mode: tool_use, then an answer that quotes the tool_result', async () => {
  const tools = [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object' as const, properties: { location: { type: 'string' } } } }]
  const first = await client('tool').messages.create({ model: 'claude-sonnet-5-5', max_tokens: 256, tools, messages: [{ role: 'user', content: 'weather?' }] })
  expect(first.stop_reason).toBe('tool_use')
  const use = first.content.find((b) => b.type === 'tool_use')!
  expect(use).toMatchObject({ id: TOOL_USE_ID, name: 'get_weather' })
  const stream = client('tool').messages.stream({
    model: 'claude-sonnet-5-5',
    max_tokens: 256,
    tools,
    messages: [
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: TOOL_USE_ID, content: '18°C' }] },
    ],
  })
  const final = await stream.finalMessage()
  expect(final.content).toEqual([{ type: 'text', text: 'The tool said: 18°C' }])
  expect(final.stop_reason).toBe('end_turn')
})

it('count_tokens answers input_tokens for the prompt', async () => {
  const params = { model: 'claude-sonnet-5-5', system: 'Be brief.', messages: [{ role: 'user' as const, content: 'hello there' }] }
  const r = await client().messages.countTokens(params)
  expect(r.input_tokens).toBe(countTokens(params))
})

it("error modes come back as the SDK's error classes", async () => {
  const hi = { model: 'claude-sonnet-5-5', max_tokens: 16, messages: [{ role: 'user' as const, content: 'hi' }] }
  await expect(client('429').messages.create(hi)).rejects.toBeInstanceOf(Anthropic.RateLimitError)
  await expect(client('401').messages.create(hi)).rejects.toBeInstanceOf(Anthropic.AuthenticationError)
  await expect(client().messages.create({ ...hi, max_tokens: undefined } as never)).rejects.toBeInstanceOf(Anthropic.BadRequestError)
})
