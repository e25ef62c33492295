import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../../src/api/errors.ts'
import type { IngressRequest } from '../../../src/api/ingress.ts'
import { responsesIngress } from '../../../src/api/responses/index.ts'
import { MemoryStore } from '../../../src/state/memory.ts'
import { completion, context } from './harness.ts'

const ingress = responsesIngress({ retentionSeconds: 60 })
const parse = async (body: Record<string, unknown>, ctx = context()) =>
  (await ingress.parse(body, JSON.stringify(body), new Request('http://x/v1/responses', { method: 'POST' }), ctx)) as IngressRequest & { body: Record<string, any> }

async function refusal(body: Record<string, unknown>, ctx = context()): Promise<GatewayError> {
  try {
    // A reference the gateway does not hold is refused unless a native backend takes it: none here.
    const r = await parse(body, ctx)
    if (r.nativeOnly) return r.nativeOnly
  } catch (e) {
    if (e instanceof GatewayError) return e
    throw e
  }
  throw new Error('the request was accepted')
}

describe('Responses request -> chat request', () => {
  it('a string input is one user message; instructions come first as a system message', async () => {
    const r = await parse({ model: 'gpt-4o', input: 'Hi there', instructions: 'Be brief.', max_output_tokens: 50, temperature: 0.2, top_p: 0.9, user: 'u-1' })
    expect(r.op).toBe('chat')
    expect(r.model).toBe('gpt-4o')
    expect(r.stream).toBe(false)
    expect(r.body).toEqual({
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi there' },
      ],
      max_tokens: 50,
      temperature: 0.2,
      top_p: 0.9,
      user: 'u-1',
    })
    expect(r.native).toMatchObject({ protocol: 'responses', body: { input: 'Hi there' } })
  })

  it('stream asks the backend for the usage chunk', async () => {
    const r = await parse({ model: 'm', input: 'x', stream: true })
    expect(r.stream).toBe(true)
    expect(r.clientWantsUsage).toBe(true)
    expect(r.body).toMatchObject({ stream: true, stream_options: { include_usage: true } })
  })

  it('message items of every role, image and file parts, tool calls and their outputs', async () => {
    const r = await parse({
      model: 'm',
      input: [
        { role: 'developer', content: 'Use tools.' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'What is in ' }, { type: 'input_image', image_url: 'https://x/cat.png', detail: 'low' }, { type: 'input_file', file_data: 'data:application/pdf;base64,AAAA', filename: 'a.pdf' }] },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Let me look.', annotations: [] }] },
        { type: 'function_call', call_id: 'call_1', name: 'lookup', arguments: '{"q":"cat"}' },
        { type: 'function_call', call_id: 'call_2', name: 'lookup', arguments: '{"q":"dog"}' },
        { type: 'function_call_output', call_id: 'call_1', output: 'a cat' },
        { type: 'function_call_output', call_id: 'call_2', output: [{ type: 'input_text', text: 'a dog' }] },
        { type: 'reasoning', id: 'rs_1', summary: [] },
        { role: 'system', content: [{ type: 'input_text', text: 'Answer now.' }] },
      ],
    })
    expect(r.body.messages).toEqual([
      { role: 'system', content: 'Use tools.' },
      { role: 'user', content: [{ type: 'text', text: 'What is in ' }, { type: 'image_url', image_url: { url: 'https://x/cat.png', detail: 'low' } }, { type: 'file', file: { file_data: 'data:application/pdf;base64,AAAA', filename: 'a.pdf' } }] },
      {
        role: 'assistant',
        content: 'Let me look.',
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"cat"}' } },
          { id: 'call_2', type: 'function', function: { name: 'lookup', arguments: '{"q":"dog"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'a cat' },
      { role: 'tool', tool_call_id: 'call_2', content: 'a dog' },
      { role: 'system', content: 'Answer now.' },
    ])
  })

  it('a function_call with no assistant words before it is an assistant message of its own', async () => {
    const r = await parse({ model: 'm', input: [{ role: 'user', content: 'hi' }, { type: 'function_call', call_id: 'c', name: 'f', arguments: '{}' }, { type: 'function_call_output', call_id: 'c', output: 'ok' }] })
    expect(r.body.messages[1]).toEqual({ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] })
  })

  it('flat function tools nest; tool_choice, parallel_tool_calls and the text format translate', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false }
    const r = await parse({
      model: 'm',
      input: 'weather?',
      tools: [{ type: 'function', name: 'weather', description: 'Weather now', parameters: schema, strict: true }],
      tool_choice: { type: 'function', name: 'weather' },
      parallel_tool_calls: false,
      text: { format: { type: 'json_schema', name: 'answer', schema, strict: true } },
      reasoning: { effort: 'low' },
    })
    expect(r.body.tools).toEqual([{ type: 'function', function: { name: 'weather', description: 'Weather now', parameters: schema, strict: true } }])
    expect(r.body.tool_choice).toEqual({ type: 'function', function: { name: 'weather' } })
    expect(r.body.parallel_tool_calls).toBe(false)
    expect(r.body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } })
    expect(r.body.reasoning_effort).toBe('low')
    const plain = await parse({ model: 'm', input: 'x', text: { format: { type: 'json_object' } }, tool_choice: 'required' })
    expect(plain.body.response_format).toEqual({ type: 'json_object' })
    expect(plain.body).not.toHaveProperty('tool_choice') // chat refuses tool_choice without tools
  })

  it('refuses what it cannot translate with a 400 naming the param', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ input: 'x' }, 'model'],
      [{ model: 'm', input: 42 }, 'input'],
      [{ model: 'm', input: 'x', tools: [{ type: 'web_search' }] }, 'tools[0].type'],
      [{ model: 'm', input: 'x', tools: [{ type: 'function', name: 'f' }], tool_choice: { type: 'mcp', server_label: 's' } }, 'tool_choice'],
      [{ model: 'm', input: 'x', text: { format: { type: 'xml' } } }, 'text.format.type'],
      [{ model: 'm', input: 'x', text: { format: { type: 'json_schema', schema: {} } } }, 'text.format.name'],
      [{ model: 'm', input: 'x', max_output_tokens: 0 }, 'max_output_tokens'],
      [{ model: 'm', input: [{ type: 'computer_call_output', call_id: 'c' }] }, 'input[0].type'],
      [{ model: 'm', input: [{ role: 'tool', content: 'x' }] }, 'input[0].role'],
      [{ model: 'm', input: [{ role: 'user', content: [{ type: 'input_audio' }] }] }, 'input[0].content[0].type'],
      [{ model: 'm', input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-1', detail: 'auto' }] }] }, 'input[0].content[0].image_url'],
      [{ model: 'm', input: 'x', background: true }, 'background'],
      [{ model: 'm', input: 'x', conversation: 'conv_1' }, 'conversation'],
      [{ model: 'm', input: [] }, 'input'],
    ]
    for (const [body, param] of cases) {
      const e = await refusal(body)
      expect({ param: e.param, status: e.status, type: e.type }, JSON.stringify(body)).toEqual({ param, status: 400, type: 'invalid_request_error' })
    }
  })
})

describe('previous_response_id and item_reference', () => {
  async function firstTurn(store: MemoryStore, scope = 'key-a') {
    const ctx = context(store, scope)
    const r = await parse({ model: 'm', input: 'My name is Ada.', instructions: 'Be kind.' }, ctx)
    const resp = await ingress.respond(completion({ content: 'Hello Ada.' }), r, ctx)
    return resp as Record<string, any>
  }

  it('a follow-up continues the stored conversation: its input, then its output (not its instructions)', async () => {
    const store = new MemoryStore()
    const first = await firstTurn(store)
    const r = await parse({ model: 'm', input: 'What is my name?', previous_response_id: first.id, instructions: 'Be terse.' }, context(store))
    expect(r.body.messages).toEqual([
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: 'My name is Ada.' },
      { role: 'assistant', content: 'Hello Ada.' },
      { role: 'user', content: 'What is my name?' },
    ])
    // A third turn carries both before it, with one store read.
    const ctx2 = context(store)
    const second = await ingress.respond(completion({ content: 'Ada.' }), r, ctx2)
    const third = await parse({ model: 'm', input: 'Thanks', previous_response_id: (second as any).id }, context(store))
    expect(third.body.messages.map((m: any) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user'])
  })

  it("another key's response is not found, exactly like a missing one (OpenAI's 400)", async () => {
    const store = new MemoryStore()
    const first = await firstTurn(store, 'key-a')
    const other = await refusal({ model: 'm', input: 'x', previous_response_id: first.id }, context(store, 'key-b'))
    const missing = await refusal({ model: 'm', input: 'x', previous_response_id: 'resp_0123' }, context(store, 'key-b'))
    expect(other.body()).toEqual({ error: { message: `Previous response with id '${first.id}' not found.`, type: 'invalid_request_error', param: 'previous_response_id', code: 'previous_response_not_found' } })
    expect(other.status).toBe(400)
    expect(missing.body().error.code).toBe(other.body().error.code)
  })

  it('item_reference brings back a stored item by its id, for its owner only', async () => {
    const store = new MemoryStore()
    const first = await firstTurn(store)
    const msgId = first.output[0].id
    const r = await parse({ model: 'm', input: [{ role: 'user', content: 'Hi' }, { type: 'item_reference', id: msgId }, { role: 'user', content: 'Again?' }] }, context(store))
    expect(r.body.messages[1]).toEqual({ role: 'assistant', content: 'Hello Ada.' })
    const e = await refusal({ model: 'm', input: [{ type: 'item_reference', id: msgId }] }, context(store, 'key-b'))
    expect([e.status, e.param, e.code]).toEqual([400, 'input[0].id', 'item_not_found'])
  })

  it('store: false keeps nothing', async () => {
    const store = new MemoryStore()
    const ctx = context(store)
    const r = await parse({ model: 'm', input: 'x', store: false }, ctx)
    const resp = (await ingress.respond(completion({ content: 'y' }), r, ctx)) as any
    expect(resp.store).toBe(false)
    expect(await store.get(`resp:${resp.id}`)).toBeUndefined()
    expect((await refusal({ model: 'm', input: 'z', previous_response_id: resp.id }, context(store))).code).toBe('previous_response_not_found')
  })
})
