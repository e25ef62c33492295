// A chat.completion as the Message Anthropic would have returned.
import { expect, it } from 'vitest'
import { ctx, ingress, parse } from './helpers.ts'

const completion = (message: Record<string, unknown>, finish: string, extra: Record<string, unknown> = {}) => ({
  id: 'chatcmpl-abc',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-2024-08-06',
  choices: [{ index: 0, message: { role: 'assistant', refusal: null, ...message }, logprobs: null, finish_reason: finish, ...extra }],
  usage: { prompt_tokens: 1200, completion_tokens: 40, total_tokens: 1240, prompt_tokens_details: { cached_tokens: 1000 } },
})

const request = (extra: Record<string, unknown> = {}) => parse({ model: 'claude-x', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }], ...extra })

it('text: a Message with an msg_ id, end_turn, and input_tokens that leave out the cached part', async () => {
  const m = await ingress.respond(completion({ content: 'Hello!' }, 'stop'), await request(), ctx)
  expect(m.id).toMatch(/^msg_[A-Za-z0-9]{24}$/)
  expect(m).toMatchObject({
    type: 'message',
    role: 'assistant',
    model: 'gpt-4o-2024-08-06',
    content: [{ type: 'text', text: 'Hello!' }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 200, output_tokens: 40, cache_read_input_tokens: 1000, cache_creation_input_tokens: 0 },
  })
})

it('tool calls: tool_use blocks with the upstream call id and parsed input, stop_reason tool_use', async () => {
  const body = completion(
    {
      content: null,
      tool_calls: [
        { id: 'call_A', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: 'call_B', type: 'function', function: { name: 'get_time', arguments: '' } },
      ],
    },
    'tool_calls',
  )
  const m = await ingress.respond(body, await request(), ctx)
  expect(m.content).toEqual([
    { type: 'tool_use', id: 'call_A', name: 'get_weather', input: { city: 'Paris' } },
    { type: 'tool_use', id: 'call_B', name: 'get_time', input: {} },
  ])
  expect(m.stop_reason).toBe('tool_use')
})

it('length is max_tokens; a stop sequence the backend names (vLLM stop_reason) is stop_sequence', async () => {
  expect((await ingress.respond(completion({ content: 'cut' }, 'length'), await request(), ctx)).stop_reason).toBe('max_tokens')
  const hit = await ingress.respond(completion({ content: 'a' }, 'stop', { stop_reason: '###' }), await request({ stop_sequences: ['###'] }), ctx)
  expect(hit).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: '###' })
  // An EOS token id is not a stop sequence.
  const eos = await ingress.respond(completion({ content: 'a' }, 'stop', { stop_reason: 128009 }), await request({ stop_sequences: ['###'] }), ctx)
  expect(eos).toMatchObject({ stop_reason: 'end_turn', stop_sequence: null })
})

it("an Anthropic backend's cache counts (kept on the chat usage) come back as they were", async () => {
  const body = { ...completion({ content: 'x' }, 'stop'), id: 'msg_01XYZ', usage: { prompt_tokens: 1500, completion_tokens: 5, total_tokens: 1505, prompt_tokens_details: { cached_tokens: 1000 }, cache_read_input_tokens: 1000, cache_creation_input_tokens: 400 } }
  const m = await ingress.respond(body, await request(), ctx)
  expect(m.id).toBe('msg_01XYZ')
  expect(m.usage).toMatchObject({ input_tokens: 100, cache_read_input_tokens: 1000, cache_creation_input_tokens: 400, output_tokens: 5 })
})
