// A Messages request as the internal chat request every OpenAI-protocol backend takes.
import { expect, it } from 'vitest'
import { GatewayError } from '../../../src/api/errors.ts'
import { ingress, parse } from './helpers.ts'

const base = { model: 'claude-sonnet-4-5', max_tokens: 256 }

async function refusal(json: Record<string, unknown>) {
  try {
    await parse(json)
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError)
    const res = ingress.error(err as GatewayError, { 'x-request-id': 'req-9' })
    return { status: res.status, body: await res.json() }
  }
  throw new Error('accepted')
}

it('a missing max_tokens is the 400 Anthropic gives, in its words', async () => {
  const r = await refusal({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi' }] })
  expect(r).toEqual({ status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: Field required' }, request_id: 'req-9' } })
})

it('a malformed block is refused naming its dotted path, as Anthropic does', async () => {
  const r = await refusal({ ...base, messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'tool_result', content: 'x' }] }] })
  expect(r.body.error.message).toBe('messages.0.content.1.tool_use_id: Field required')
  const role = await refusal({ ...base, messages: [{ role: 'tool', content: 'x' }] })
  expect(role.body.error.message).toBe("messages.0.role: Input tag 'tool' found using 'role' does not match any of the expected tags")
})

it('system, text, images, sampling and the user become their chat counterparts', async () => {
  const r = await parse({
    ...base,
    system: [{ type: 'text', text: 'Be brief.' }, { type: 'text', text: 'Answer in French.', cache_control: { type: 'ephemeral' } }],
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in these?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0K' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        ],
      },
    ],
    stop_sequences: ['###'],
    temperature: 0.2,
    top_p: 0.9,
    top_k: 40,
    metadata: { user_id: 'u-42' },
  })
  expect(r).toMatchObject({ op: 'chat', model: 'claude-sonnet-4-5', stream: false, clientWantsUsage: false })
  expect(r.body).toEqual({
    model: 'claude-sonnet-4-5',
    messages: [
      { role: 'system', content: 'Be brief.\nAnswer in French.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in these?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0K' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
        ],
      },
    ],
    max_tokens: 256,
    stop: ['###'],
    temperature: 0.2,
    top_p: 0.9,
    top_k: 40,
    user: 'u-42',
  })
})

it('a tool round trip: tool_use becomes tool_calls, tool_result tool messages right after, thinking is dropped', async () => {
  const r = await parse({
    ...base,
    tools: [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
    tool_choice: { type: 'any', disable_parallel_tool_use: true },
    messages: [
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'Two cities.', signature: 'sig' },
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: { city: 'Rome' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '18C' }] },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: 'city not found', is_error: true },
          { type: 'text', text: 'Thanks' },
        ],
      },
    ],
  })
  expect(r.body.messages).toEqual([
    { role: 'user', content: 'Weather in Paris and Rome?' },
    {
      role: 'assistant',
      content: 'Checking.',
      tool_calls: [
        { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: 'toolu_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
      ],
    },
    { role: 'tool', tool_call_id: 'toolu_1', content: '18C' },
    { role: 'tool', tool_call_id: 'toolu_2', content: 'Error: city not found' },
    { role: 'user', content: 'Thanks' },
  ])
  expect(r.body.tools).toEqual([{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }])
  expect(r.body.tool_choice).toBe('required')
  expect(r.body.parallel_tool_calls).toBe(false)
})

it('tool_choice tool, none and auto', async () => {
  const tools = [{ name: 'f', input_schema: { type: 'object' } }]
  const messages = [{ role: 'user', content: 'x' }]
  expect((await parse({ ...base, tools, messages, tool_choice: { type: 'tool', name: 'f' } })).body.tool_choice).toEqual({ type: 'function', function: { name: 'f' } })
  expect((await parse({ ...base, tools, messages, tool_choice: { type: 'none' } })).body.tool_choice).toBe('none')
  expect((await parse({ ...base, tools, messages, tool_choice: { type: 'auto' } })).body.tool_choice).toBe('auto')
})

it('stream asks for the usage chunk; the body goes on as it came for an Anthropic backend', async () => {
  const json = { ...base, stream: true, messages: [{ role: 'user', content: [{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral' } }] }], thinking: { type: 'enabled', budget_tokens: 1024 } }
  const r = await parse(json)
  expect(r.stream).toBe(true)
  expect(r.clientWantsUsage).toBe(true)
  expect(r.body.stream).toBe(true)
  expect(r.body.stream_options).toEqual({ include_usage: true })
  expect(r.body.messages).toEqual([{ role: 'user', content: 'hi' }])
  expect(r.body).not.toHaveProperty('thinking')
  expect(r.native).toEqual({ protocol: 'messages', body: json, raw: JSON.stringify(json) })
})

it('an empty messages list and a client tool without input_schema are refused as Anthropic refuses them', async () => {
  expect((await refusal({ ...base, messages: [] })).body.error.message).toBe('messages: at least one message is required')
  const tool = await refusal({ ...base, tools: [{ name: 'f' }], messages: [{ role: 'user', content: 'x' }] })
  expect(tool.body.error.message).toBe('tools.0.input_schema: Field required')
})

it("Anthropic's server tools pass validation (an Anthropic backend runs them) and are left out of the chat request", async () => {
  const r = await parse({ ...base, tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3 }, { name: 'f', input_schema: { type: 'object' } }], messages: [{ role: 'user', content: 'x' }] })
  expect(r.body.tools).toEqual([{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }])
  expect((r.native!.body.tools as unknown[]).length).toBe(2)
})

it('a system message inside the list (SDK 1.12 MessageParam) stays a system message in place', async () => {
  const r = await parse({ ...base, messages: [{ role: 'user', content: 'a' }, { role: 'system', content: [{ type: 'text', text: 'Now be terse.' }] }, { role: 'user', content: 'b' }] })
  expect(r.body.messages).toEqual([{ role: 'user', content: 'a' }, { role: 'system', content: 'Now be terse.' }, { role: 'user', content: 'b' }])
})

it("structured output: output_config.format's schema becomes response_format json_schema", async () => {
  const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false }
  const r = await parse({ ...base, messages: [{ role: 'user', content: 'x' }], output_config: { format: { type: 'json_schema', schema } } })
  expect(r.body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'output', schema, strict: true } })
  expect((await parse({ ...base, messages: [{ role: 'user', content: 'x' }] })).body).not.toHaveProperty('response_format')
})
