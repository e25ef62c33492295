// The internal chat stream as Anthropic's event sequence.
import { expect, it } from 'vitest'
import { chunk, ctx, events, ingress, internalStream, parse, usageChunk } from './helpers.ts'
import { webStream } from '../../../src/providers/types.ts'

const request = (extra: Record<string, unknown> = {}) => parse({ model: 'claude-x', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'hi' }], ...extra })
const usage = { prompt_tokens: 30, completion_tokens: 7, total_tokens: 37, prompt_tokens_details: { cached_tokens: 10 } }

it('text: the exact sequence Anthropic sends, usage in message_delta', async () => {
  const body = internalStream([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hel' }), chunk({ content: 'lo' }), chunk({}, 'stop'), usageChunk(usage), '[DONE]'])
  const ev = await events(ingress.stream(body, await request(), ctx))
  expect(ev.map(([n]) => n)).toEqual(['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'])
  for (const [name, data] of ev) expect(data.type).toBe(name)
  expect(ev[0]![1].message).toMatchObject({ type: 'message', role: 'assistant', model: 'gpt-4o-2024-08-06', content: [], stop_reason: null })
  expect(ev[0]![1].message.id).toMatch(/^msg_/)
  expect(ev[1]![1]).toEqual({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })
  expect(ev[3]![1]).toEqual({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } })
  expect(ev[6]![1]).toEqual({
    type: 'message_delta',
    delta: { stop_reason: 'end_turn', stop_sequence: null, stop_details: null },
    usage: { input_tokens: 20, output_tokens: 7, cache_read_input_tokens: 10, cache_creation_input_tokens: 0 },
  })
})

it('text then two tools streamed one after another: three blocks, the tools live', async () => {
  const body = internalStream([
    chunk({ role: 'assistant', content: 'Let me check.' }),
    chunk({ tool_calls: [{ index: 0, id: 'call_A', type: 'function', function: { name: 'weather', arguments: '' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
    chunk({ tool_calls: [{ index: 1, id: 'call_B', type: 'function', function: { name: 'time', arguments: '{}' } }] }),
    chunk({}, 'tool_calls'),
    '[DONE]',
  ])
  const ev = await events(ingress.stream(body, await request(), ctx))
  const shape = ev.filter(([n]) => n.startsWith('content_block')).map(([n, d]) => `${n.slice(14)}:${d.index}${d.delta?.partial_json !== undefined ? `:${d.delta.partial_json}` : ''}`)
  expect(shape).toEqual(['start:0', 'delta:0', 'stop:0', 'start:1', 'delta:1:{"city":', 'delta:1:"Paris"}', 'stop:1', 'start:2', 'delta:2:{}', 'stop:2'])
  expect(ev.find(([n, d]) => n === 'content_block_start' && d.index === 1)![1].content_block).toEqual({ type: 'tool_use', id: 'call_A', name: 'weather', input: {} })
  expect(ev.find(([n]) => n === 'message_delta')![1].delta.stop_reason).toBe('tool_use')
})

it('interleaved tool deltas still become separate, non-overlapping blocks with whole arguments', async () => {
  const body = internalStream([
    chunk({ role: 'assistant', tool_calls: [{ index: 0, id: 'call_A', type: 'function', function: { name: 'a', arguments: '{"x":' } }] }),
    chunk({ tool_calls: [{ index: 1, id: 'call_B', type: 'function', function: { name: 'b', arguments: '{"y":' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }),
    chunk({ tool_calls: [{ index: 1, function: { arguments: '2}' } }] }),
    chunk({}, 'tool_calls'),
    '[DONE]',
  ])
  const ev = await events(ingress.stream(body, await request(), ctx))
  const blocks = new Map<number, { name: string; json: string; stopped: boolean }>()
  let open: number | undefined
  for (const [n, d] of ev) {
    if (n === 'content_block_start') {
      expect(open).toBeUndefined() // never two open at once
      open = d.index
      blocks.set(d.index, { name: d.content_block.name, json: '', stopped: false })
    } else if (n === 'content_block_delta') {
      expect(d.index).toBe(open)
      blocks.get(d.index)!.json += d.delta.partial_json
    } else if (n === 'content_block_stop') {
      blocks.get(d.index)!.stopped = true
      open = undefined
    }
  }
  expect([...blocks.entries()]).toEqual([
    [0, { name: 'a', json: '{"x":1}', stopped: true }],
    [1, { name: 'b', json: '{"y":2}', stopped: true }],
  ])
})

it('a failure after the first content is an error event, and nothing follows it', async () => {
  const body = internalStream([chunk({ role: 'assistant', content: 'Hi' }), { error: { message: 'backend "a" failed', type: 'upstream_error', param: null, code: 'upstream_stream_interrupted' } }, chunk({ content: 'late' })])
  const ev = await events(ingress.stream(body, await request(), ctx))
  expect(ev.map(([n]) => n)).toEqual(['message_start', 'content_block_start', 'ping', 'content_block_delta', 'error'])
  expect(ev[4]![1]).toEqual({ type: 'error', error: { type: 'api_error', message: 'backend "a" failed' } })
})

it('an overloaded upstream stays overloaded_error in the event', async () => {
  const body = internalStream([chunk({ content: 'Hi' }), { error: { message: 'Overloaded', type: 'overloaded_error', code: 'overloaded_error' } }])
  const ev = await events(ingress.stream(body, await request(), ctx))
  expect(ev.at(-1)![1].error.type).toBe('overloaded_error')
})

it('a stream cut without [DONE] ends with an error event, never a clean message_stop', async () => {
  const body = internalStream([chunk({ role: 'assistant', content: 'Hi' })])
  const ev = await events(ingress.stream(body, await request(), ctx))
  expect(ev.map(([n]) => n)).not.toContain('message_stop')
  expect(ev.at(-1)![0]).toBe('error')
})

it('finish_reason length is max_tokens; a named stop sequence is stop_sequence', async () => {
  const cut = await events(ingress.stream(internalStream([chunk({ content: 'a' }), chunk({}, 'length'), '[DONE]']), await request(), ctx))
  expect(cut.find(([n]) => n === 'message_delta')![1].delta.stop_reason).toBe('max_tokens')
  const seq = await events(ingress.stream(internalStream([chunk({ content: 'a' }), chunk({}, 'stop', { stop_reason: 'END' }), '[DONE]']), await request({ stop_sequences: ['END'] }), ctx))
  expect(seq.find(([n]) => n === 'message_delta')![1].delta).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: 'END' })
})

it('a read failure of the internal stream still reaches the client as an error event', async () => {
  const enc = new TextEncoder()
  let n = 0
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (n++ === 0) c.enqueue(enc.encode(`data: ${JSON.stringify(chunk({ role: 'assistant', content: 'Hi' }))}\n\n`))
      else c.error(new Error('socket hang up'))
    },
  })
  const ev = await events(ingress.stream(body, await request(), ctx))
  expect(ev.map(([n]) => n)).toEqual(['message_start', 'content_block_start', 'ping', 'content_block_delta', 'error'])
  expect(ev.at(-1)![1].error).toEqual({ type: 'api_error', message: 'The upstream stream failed: socket hang up' })
})

it('cancelling the client stream cancels the internal one', async () => {
  let cancelled!: (reason: unknown) => void
  const gone = new Promise((resolve) => (cancelled = resolve))
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      c.enqueue(new TextEncoder().encode(`data: ${JSON.stringify(chunk({ content: 'x' }))}\n\n`))
    },
    cancel(reason) {
      cancelled(reason)
    },
  }, { highWaterMark: 0 })
  const reader = webStream(ingress.stream(body, await request(), ctx)).getReader()
  await reader.read()
  await reader.cancel('client gone')
  expect(await gone).toBe('client gone')
})

it("OpenAI's refusal arrives as text with stop_reason refusal, as the whole response gives it", async () => {
  const ev = await events(ingress.stream(internalStream([chunk({ role: 'assistant', refusal: "I can't help with that." }), chunk({}, 'stop'), '[DONE]']), await request(), ctx))
  expect(ev.find(([n]) => n === 'content_block_delta')![1].delta).toEqual({ type: 'text_delta', text: "I can't help with that." })
  expect(ev.find(([n]) => n === 'message_delta')![1].delta.stop_reason).toBe('refusal')
  const whole = await ingress.respond({ id: 'x', choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: "I can't help with that." }, finish_reason: 'stop' }] }, await request(), ctx)
  expect(whole).toMatchObject({ content: [{ type: 'text', text: "I can't help with that." }], stop_reason: 'refusal' })
})
