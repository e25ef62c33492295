// The OpenAI test upstream's native Responses API, proved with the real
// openai SDK pointed straight at it (no gateway): if the SDK's own parser and
// stream accumulator take it, the gateway's tests can trust it.
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startOpenAIUpstream, type OpenAIUpstream } from './openai.ts'
import { RESPONSES_USAGE } from './openai-responses.ts'

let up: OpenAIUpstream
const client = (mode = 'ok') => new OpenAI({ baseURL: up.base(mode), apiKey: 'test-test', maxRetries: 0 })
const weather = { type: 'function' as const, name: 'get_weather', description: 'Weather', strict: false, parameters: { type: 'object', properties: { location: { type: 'string' } } } }

beforeAll(async () => {
  up = await startOpenAIUpstream()
})
afterAll(async () => {
  await up?.close()
})

describe('POST /v1/responses', () => {
  it('answers a Response object the SDK reads, output_text included, and stores it for retrieve', async () => {
    const r = await client().responses.create({ model: 'gpt-4.1', input: 'hi', instructions: 'Be brief.', metadata: { k: 'v' } })
    expect(r.object).toBe('response')
    expect(r.id).toMatch(/^resp_/)
    expect(r.status).toBe('completed')
    expect(r.output_text).toBe('Hello from ok')
    expect(r.instructions).toBe('Be brief.')
    expect(r.metadata).toEqual({ k: 'v' })
    expect(r.usage).toEqual(RESPONSES_USAGE)
    const again = await client().responses.retrieve(r.id)
    expect(again.output_text).toBe('Hello from ok')
    await expect(client().responses.retrieve('resp_unknown')).rejects.toBeInstanceOf(OpenAI.NotFoundError)
  })

  it('streams the typed events in order, numbered from 0, and the SDK assembles the final response', async () => {
    const stream = client().responses.stream({ model: 'gpt-4.1', input: 'hi' })
    const types: string[] = []
    const seq: number[] = []
    let text = ''
    for await (const e of stream) {
      types.push(e.type)
      seq.push(e.sequence_number)
      if (e.type === 'response.output_text.delta') text += e.delta
    }
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ])
    expect(seq).toEqual(types.map((_, i) => i))
    expect(text).toBe('Hello from ok')
    const final = await stream.finalResponse()
    expect(final.output_text).toBe('Hello from ok')
    expect(final.usage?.total_tokens).toBe(123)
  })

  it('tool mode: a function call (streamed as argument deltas), then an answer to its output', async () => {
    const first = await client('tool').responses.create({ model: 'gpt-4.1', input: 'weather in SF?', tools: [weather] })
    const call = first.output[0]!
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', status: 'completed' })
    if (call.type !== 'function_call') throw new Error('expected a function call')
    expect(JSON.parse(call.arguments)).toEqual({ location: 'San Francisco, CA' })

    const stream = client('tool').responses.stream({ model: 'gpt-4.1', input: 'weather in SF?', tools: [weather] })
    const deltas: string[] = []
    let done = ''
    for await (const e of stream) {
      if (e.type === 'response.function_call_arguments.delta') deltas.push(e.delta)
      if (e.type === 'response.function_call_arguments.done') done = e.arguments
    }
    expect(deltas.length).toBeGreaterThan(1)
    expect(deltas.join('')).toBe(done)
    const final = await stream.finalResponse()
    expect(final.output[0]).toMatchObject({ type: 'function_call', arguments: done })

    const second = await client('tool').responses.create({
      model: 'gpt-4.1',
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '18°C and sunny' }],
      tools: [weather],
    })
    expect(second.output_text).toBe('The tool said: 18°C and sunny')
    expect(second.previous_response_id).toBe(first.id)
  })

  it('structured output: text.format json_schema is answered with JSON fitting the schema', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' }, temp: { type: 'number' } }, required: ['city', 'temp'], additionalProperties: false }
    const r = await client().responses.create({ model: 'gpt-4.1', input: 'x', text: { format: { type: 'json_schema', name: 'w', schema, strict: true } } })
    expect(JSON.parse(r.output_text)).toEqual({ city: 'city sample', temp: 21.5 })
  })

  it('incomplete mode ends with response.incomplete and the reason', async () => {
    const stream = client('incomplete').responses.stream({ model: 'gpt-4.1', input: 'hi', max_output_tokens: 16 })
    const types: string[] = []
    for await (const e of stream) types.push(e.type)
    expect(types.at(-1)).toBe('response.incomplete')
    const r = await client('incomplete').responses.create({ model: 'gpt-4.1', input: 'hi', max_output_tokens: 16 })
    expect(r.status).toBe('incomplete')
    expect(r.incomplete_details).toEqual({ reason: 'max_output_tokens' })
  })

  it('failed mode: the stream ends in response.failed, which the SDK surfaces', async () => {
    const stream = await client('failed').responses.create({ model: 'gpt-4.1', input: 'hi', stream: true })
    const types: string[] = []
    for await (const e of stream) types.push(e.type)
    expect(types.at(-1)).toBe('response.failed')
    await expect(client('failed').responses.create({ model: 'gpt-4.1', input: 'hi' })).rejects.toBeInstanceOf(OpenAI.InternalServerError)
  })

  it("error modes answer OpenAI's error bodies, which the SDK maps to its error classes", async () => {
    await expect(client('429').responses.create({ model: 'gpt-4.1', input: 'hi' })).rejects.toMatchObject({ status: 429, code: 'rate_limit_exceeded' })
    await expect(client('401').responses.create({ model: 'gpt-4.1', input: 'hi' })).rejects.toBeInstanceOf(OpenAI.AuthenticationError)
    await expect(client().responses.create({ model: 'gpt-4.1', input: 'hi', previous_response_id: 'resp_nope' })).rejects.toMatchObject({ status: 400, code: 'previous_response_not_found', param: 'previous_response_id' })
  })
})

describe('chat completions tool mode', () => {
  it('calls the tool, then answers the tool message', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }]
    const first = await client('tool').chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'weather?' }], tools })
    const call = first.choices[0]!.message.tool_calls![0]!
    expect(first.choices[0]!.finish_reason).toBe('tool_calls')
    if (call.type !== 'function') throw new Error('expected a function call')
    expect(JSON.parse(call.function.arguments)).toEqual({ location: 'San Francisco, CA' })
    const stream = await client('tool').chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'weather?' }], tools })
    let args = ''
    for await (const c of stream) args += c.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? ''
    expect(args).toBe(call.function.arguments)
    const second = await client('tool').chat.completions.create({
      model: 'gpt-4o',
      tools,
      messages: [{ role: 'user', content: 'weather?' }, first.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: '18°C' }],
    })
    expect(second.choices[0]!.message.content).toBe('The tool said: 18°C')
  })
})
