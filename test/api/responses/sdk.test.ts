// The real openai SDK against the Responses translator: what a user writes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { chunk, completion, startHarness, usageChunk, type Answer, type Harness } from './harness.ts'

type Obj = Record<string, any>

/** The scripted backend: answers by the last user message. */
function backend(chat: Obj): Answer {
  const last = chat.messages.at(-1)
  const said = last.role === 'tool' ? 'tool' : last.content
  const stream = chat.stream === true
  if (said === 'weather?') {
    if (!stream) return { json: completion({ content: null, tool_calls: [{ id: 'call_w', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }] }, 'tool_calls') }
    return {
      events: [
        chunk({ role: 'assistant', tool_calls: [{ index: 0, id: 'call_w', type: 'function', function: { name: 'weather', arguments: '' } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city"' } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: ':"Paris"}' } }] }),
        chunk({}, 'tool_calls'),
        usageChunk(20, 9, 0),
        '[DONE]',
      ],
    }
  }
  if (said === 'tool') return stream ? { events: [chunk({ content: `It is ${last.content}.` }), chunk({}, 'stop'), usageChunk(), '[DONE]'] } : { json: completion({ content: `It is ${last.content}.` }) }
  if (said === 'fail midway') return { events: [chunk({ content: 'Partial' }), { error: { message: 'The backend dropped the connection', type: 'upstream_error', param: null, code: 'upstream_disconnected' } }] }
  const answer = `You said ${chat.messages.filter((m: Obj) => m.role === 'user').length} things; last: ${said}`
  if (!stream) return { json: completion({ content: answer }) }
  return { events: [chunk({ role: 'assistant', content: '' }), ...answer.split(' ').map((w, i) => chunk({ content: i ? ` ${w}` : w })), chunk({}, 'stop'), usageChunk(), '[DONE]'] }
}

let h: Harness
let client: OpenAI
beforeAll(async () => {
  h = await startHarness(backend)
  client = h.client()
})
afterAll(() => h.close())

const weatherTool = { type: 'function' as const, name: 'weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false }, strict: true }

describe('the openai SDK against the Responses translator', () => {
  it('responses.create: output_text and usage', async () => {
    const r = await client.responses.create({ model: 'gpt-4o', input: 'hello' })
    expect(r.output_text).toBe('You said 1 things; last: hello')
    expect(r.status).toBe('completed')
    expect(r.usage).toMatchObject({ input_tokens: 11, output_tokens: 7, total_tokens: 18 })
  })

  it('responses.create({stream: true}): typed events with sequence numbers', async () => {
    const events = []
    for await (const e of await client.responses.create({ model: 'gpt-4o', input: 'hello there', stream: true })) events.push(e)
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i))
    const deltas = events.filter((e) => e.type === 'response.output_text.delta').map((e) => (e as { delta: string }).delta)
    expect(deltas.join('')).toBe('You said 1 things; last: hello there')
    const done = events.at(-1)!
    expect(done.type).toBe('response.completed')
  })

  it('responses.stream: finalResponse with the text and usage', async () => {
    const s = client.responses.stream({ model: 'gpt-4o', input: 'stream me' })
    let snapshot = ''
    s.on('response.output_text.delta', (e) => (snapshot = e.snapshot))
    const final = await s.finalResponse()
    expect(final.output_text).toBe('You said 1 things; last: stream me')
    expect(snapshot).toBe(final.output_text)
    expect(final.usage).toEqual({ input_tokens: 11, input_tokens_details: { cached_tokens: 3 }, output_tokens: 7, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 18 })
  })

  it('a tool round trip, streamed: arguments, then the answer to function_call_output', async () => {
    const s = client.responses.stream({ model: 'gpt-4o', input: 'weather?', tools: [weatherTool] })
    const argSnapshots: string[] = []
    s.on('response.function_call_arguments.delta', (e) => argSnapshots.push(e.snapshot))
    const first = await s.finalResponse()
    const call = first.output.find((o) => o.type === 'function_call')!
    expect(call).toMatchObject({ type: 'function_call', call_id: 'call_w', name: 'weather', arguments: '{"city":"Paris"}', status: 'completed' })
    expect(argSnapshots).toEqual(['{"city"', '{"city":"Paris"}'])
    expect(first.usage!.input_tokens).toBe(20)
    const second = await client.responses.create({ model: 'gpt-4o', previous_response_id: first.id, input: [{ type: 'function_call_output', call_id: 'call_w', output: 'sunny' }], tools: [weatherTool] })
    expect(second.output_text).toBe('It is sunny.')
    expect(h.chats.at(-1)!.messages.slice(-3)).toEqual([
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_w', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_w', content: 'sunny' },
    ])
  })

  it('a follow-up with previous_response_id, then retrieve, input_items and delete', async () => {
    const first = await client.responses.create({ model: 'gpt-4o', input: 'one', stream: true })
    let firstId = ''
    for await (const e of first) if (e.type === 'response.completed') firstId = e.response.id
    const second = await client.responses.create({ model: 'gpt-4o', input: 'two', previous_response_id: firstId })
    expect(second.output_text).toBe('You said 2 things; last: two')
    expect(second.previous_response_id).toBe(firstId)

    const back = await client.responses.retrieve(second.id)
    expect(back.output_text).toBe(second.output_text)
    expect(back.id).toBe(second.id)
    const items = await client.responses.inputItems.list(second.id)
    expect(items.data.map((i) => (i as { content: Array<{ text: string }> }).content[0]!.text)).toEqual(['two'])

    await expect(h.client('key-b').responses.retrieve(second.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
    await expect(h.client('key-b').responses.create({ model: 'gpt-4o', input: 'x', previous_response_id: second.id })).rejects.toMatchObject({ status: 400, code: 'previous_response_not_found', param: 'previous_response_id' })

    await client.responses.delete(second.id)
    await expect(client.responses.retrieve(second.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
  })

  it('a failure mid-stream reaches the SDK as an error, not a clean end', async () => {
    const seen: string[] = []
    const run = async () => {
      for await (const e of await client.responses.create({ model: 'gpt-4o', input: 'fail midway', stream: true })) seen.push(e.type)
    }
    await expect(run()).rejects.toMatchObject({ message: expect.stringContaining('The backend dropped the connection') })
    expect(seen).toContain('response.output_text.delta')
    expect(seen).not.toContain('response.completed')
    await expect(client.responses.stream({ model: 'gpt-4o', input: 'fail midway' }).finalResponse()).rejects.toBeInstanceOf(OpenAI.APIError)
  })

  it('a refused request is an OpenAI error the SDK classifies', async () => {
    await expect(client.responses.create({ model: 'gpt-4o', input: 'x', tools: [{ type: 'web_search' }] })).rejects.toMatchObject({ status: 400, param: 'tools[0].type' })
  })
})
