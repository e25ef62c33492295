import { describe, expect, it } from 'vitest'
import type { IngressRequest } from '../../../src/api/ingress.ts'
import { responsesIngress } from '../../../src/api/responses/index.ts'
import { MemoryStore } from '../../../src/state/memory.ts'
import { MODEL, chunk, context, readEvents, sseStream, usageChunk } from './harness.ts'
import { webStream } from '../../../src/providers/types.ts'

type Obj = Record<string, any>
const ingress = responsesIngress({ retentionSeconds: 60 })

async function streamed(body: Obj, events: Array<Obj | string>, ctx = context()) {
  const r: IngressRequest = await ingress.parse({ stream: true, ...body }, '', new Request('http://x/v1/responses', { method: 'POST' }), ctx)
  return readEvents(ingress.stream(sseStream(events), r, ctx))
}

const text = (...parts: string[]) => [chunk({ role: 'assistant', content: '' }), ...parts.map((p) => chunk({ content: p })), chunk({}, 'stop'), usageChunk(), '[DONE]']

describe('chat SSE -> Responses events', () => {
  it('a text answer: the event sequence OpenAI sends, numbered from 0', async () => {
    const ev = await streamed({ model: 'gpt-4o', input: 'Hi' }, text('Hel', 'lo', '!'))
    expect(ev.map((e) => e.type)).toEqual([
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
    expect(ev.map((e) => e.sequence_number)).toEqual(ev.map((_, i) => i))
    const id = ev[2]!.item.id
    expect(ev[0]!.response).toMatchObject({ object: 'response', status: 'in_progress', output: [], usage: null, model: MODEL })
    expect(ev[2]).toEqual({ type: 'response.output_item.added', sequence_number: 2, output_index: 0, item: { id, type: 'message', status: 'in_progress', content: [], role: 'assistant' } })
    expect(ev[3]).toEqual({ type: 'response.content_part.added', sequence_number: 3, item_id: id, output_index: 0, content_index: 0, part: { type: 'output_text', annotations: [], text: '' } })
    expect(ev[4]).toEqual({ type: 'response.output_text.delta', sequence_number: 4, item_id: id, output_index: 0, content_index: 0, delta: 'Hel', logprobs: [] })
    expect(ev[7]).toMatchObject({ type: 'response.output_text.done', text: 'Hello!' })
    expect(ev[9]!.item).toEqual({ id, type: 'message', status: 'completed', content: [{ type: 'output_text', annotations: [], text: 'Hello!' }], role: 'assistant' })
    const done = ev[10]!.response
    expect(done).toMatchObject({ id: ev[0]!.response.id, status: 'completed', incomplete_details: null, error: null, output: [ev[9]!.item] })
    expect(done.usage).toEqual({ input_tokens: 11, input_tokens_details: { cached_tokens: 3 }, output_tokens: 7, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 18 })
  })

  it('tool calls: one function_call item each, closed before the next opens', async () => {
    const ev = await streamed({ model: 'm', input: 'x', tools: [{ type: 'function', name: 'w' }] }, [
      chunk({ role: 'assistant', content: 'Let me check.' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'w', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'w', arguments: '{"city":"Rome"}' } }] }),
      chunk({}, 'tool_calls'),
      usageChunk(),
      '[DONE]',
    ])
    expect(ev.map((e) => e.type).slice(2)).toEqual([
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ])
    const added = ev.find((e) => e.type === 'response.output_item.added' && e.output_index === 1)!
    expect(added.item).toEqual({ id: added.item.id, type: 'function_call', status: 'in_progress', arguments: '', call_id: 'call_a', name: 'w' })
    const argsDone = ev.find((e) => e.type === 'response.function_call_arguments.done')!
    expect(argsDone).toMatchObject({ item_id: added.item.id, output_index: 1, arguments: '{"city":"Paris"}', name: 'w' })
    const final = ev.at(-1)!.response
    expect(final.output.map((o: Obj) => o.arguments ?? o.content[0].text)).toEqual(['Let me check.', '{"city":"Paris"}', '{"city":"Rome"}'])
    expect(final.output.every((o: Obj) => o.status === 'completed')).toBe(true)
  })

  it('cut at max_output_tokens: response.incomplete with the reason', async () => {
    const ev = await streamed({ model: 'm', input: 'x', max_output_tokens: 2 }, [chunk({ content: 'Once upon' }), chunk({}, 'length'), usageChunk(5, 2), '[DONE]'])
    const last = ev.at(-1)!
    expect(last.type).toBe('response.incomplete')
    expect(last.response).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, max_output_tokens: 2 })
    expect(ev.find((e) => e.type === 'response.output_item.done')!.item.status).toBe('incomplete')
  })

  it('a failure after the first content: an error event, then response.failed; nothing stored', async () => {
    const store = new MemoryStore()
    const ev = await streamed({ model: 'm', input: 'x' }, [chunk({ content: 'Hal' }), { error: { message: 'upstream went away', type: 'upstream_error', param: null, code: 'stream_interrupted' } }], context(store))
    expect(ev.slice(-2).map((e) => e.type)).toEqual(['error', 'response.failed'])
    expect(ev.at(-2)).toMatchObject({ code: 'stream_interrupted', message: 'upstream went away', param: null, error: { code: 'stream_interrupted', message: 'upstream went away' } })
    expect(ev.at(-1)!.response).toMatchObject({ status: 'failed', error: { code: 'server_error', message: 'upstream went away' } })
    expect(await store.get(`resp:${ev[0]!.response.id}`)).toBeUndefined()
  })

  it('a read of the internal stream that fails: the error event and response.failed, not a dropped connection', async () => {
    const bytes = new TextEncoder().encode(`data: ${JSON.stringify(chunk({ content: 'Hal' }))}\n\n`)
    let reads = 0
    const broken = new ReadableStream<Uint8Array>({ pull: (c) => (reads++ ? c.error(new Error('socket hang up')) : c.enqueue(bytes)) })
    const ctx = context()
    const r: IngressRequest = await ingress.parse({ stream: true, model: 'm', input: 'x' }, '', new Request('http://x/v1/responses', { method: 'POST' }), ctx)
    const ev = await readEvents(ingress.stream(broken, r, ctx))
    expect(ev.find((e) => e.type === 'response.output_text.delta')).toMatchObject({ delta: 'Hal' })
    expect(ev.slice(-2).map((e) => e.type)).toEqual(['error', 'response.failed'])
    expect(ev.at(-2)!.message).toContain('socket hang up')
  })

  it('an upstream that stops without finishing is a failure, never a clean end', async () => {
    const ev = await streamed({ model: 'm', input: 'x' }, [chunk({ content: 'Hal' })])
    expect(ev.at(-1)!.type).toBe('response.failed')
    // One that finished but sent no [DONE] is complete.
    const ok = await streamed({ model: 'm', input: 'x' }, [chunk({ content: 'Hi' }), chunk({}, 'stop')])
    expect(ok.at(-1)!.type).toBe('response.completed')
  })

  it('is stored before its final event, so a follow-up at once finds it', async () => {
    // A store whose writes land only when the test lets them.
    class HeldStore extends MemoryStore {
      held: Array<() => void> = []
      override async put(k: string, v: string, o?: { ttlSeconds?: number; ifAbsent?: boolean }) {
        await new Promise<void>((r) => this.held.push(r))
        return super.put(k, v, o)
      }
    }
    const store = new HeldStore()
    const ctx = context(store)
    let finished = false
    const reading = streamed({ model: 'm', input: 'Hi' }, text('Hello'), ctx).then((ev) => ((finished = true), ev))
    while (!store.held.length) await new Promise((r) => setTimeout(r, 1))
    expect(finished).toBe(false) // the final event waits for the write
    expect(ctx.pending).toHaveLength(1) // which is handed to waitUntil too
    store.held[0]!()
    const ev = await reading
    expect(ev.at(-1)!.type).toBe('response.completed')
    const raw = await store.get(`resp:${ev[0]!.response.id}`)
    expect(JSON.parse(raw!).response).toEqual(ev.at(-1)!.response)
  })

  it('translates each chunk as it arrives', async () => {
    let up!: ReadableStreamDefaultController<Uint8Array>
    const upstream = new ReadableStream<Uint8Array>({ start: (c) => void (up = c) })
    const ctx = context()
    const r = await ingress.parse({ model: 'm', input: 'x', stream: true }, '', new Request('http://x/'), ctx)
    const reader = webStream(ingress.stream(upstream, r, ctx)).pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>).getReader()
    up.enqueue(new TextEncoder().encode(`data: ${JSON.stringify(chunk({ content: 'first' }))}\n\n`))
    let seen = ''
    while (!seen.includes('"delta":"first"')) seen += (await reader.read()).value
    expect(seen).not.toContain('response.completed')
    up.enqueue(new TextEncoder().encode(`data: ${JSON.stringify(chunk({}, 'stop'))}\n\ndata: [DONE]\n\n`))
    up.close()
    for (let r = await reader.read(); !r.done; r = await reader.read()) seen += r.value
    expect(seen).toContain('event: response.completed')
  })
})
