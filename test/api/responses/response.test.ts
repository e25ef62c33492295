import { describe, expect, it } from 'vitest'
import type { IngressRequest } from '../../../src/api/ingress.ts'
import { responsesIngress, responsesRoute } from '../../../src/api/responses/index.ts'
import { MemoryStore } from '../../../src/state/memory.ts'
import { MODEL, completion, context } from './harness.ts'

const ingress = responsesIngress({ retentionSeconds: 60 })

async function turn(body: Record<string, unknown>, answer: Record<string, unknown>, ctx = context()) {
  const r: IngressRequest = await ingress.parse(body, JSON.stringify(body), new Request('http://x/v1/responses', { method: 'POST' }), ctx)
  return (await ingress.respond(answer, r, ctx)) as Record<string, any>
}

describe('chat.completion -> Response object', () => {
  it('a text answer, field for field, with the request echoed', async () => {
    const before = Math.floor(Date.now() / 1000)
    const r = await turn(
      { model: 'gpt-4o', input: 'Hi', instructions: 'Be brief.', temperature: 0.5, max_output_tokens: 100, metadata: { team: 'a' }, user: 'u1' },
      completion({ content: 'Hello!' }, 'stop', { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 1 } }),
    )
    expect(r.id).toMatch(/^resp_[0-9a-f]{32}$/)
    expect(r.created_at).toBeGreaterThanOrEqual(before)
    expect(r.output[0].id).toMatch(/^msg_/)
    expect(r).toEqual({
      id: r.id,
      object: 'response',
      created_at: r.created_at,
      status: 'completed',
      background: false,
      completed_at: r.completed_at,
      error: null,
      incomplete_details: null,
      instructions: 'Be brief.',
      max_output_tokens: 100,
      model: MODEL,
      output: [{ id: r.output[0].id, type: 'message', status: 'completed', content: [{ type: 'output_text', annotations: [], text: 'Hello!' }], role: 'assistant' }],
      parallel_tool_calls: true,
      previous_response_id: null,
      reasoning: { effort: null, summary: null },
      store: true,
      temperature: 0.5,
      text: { format: { type: 'text' } },
      tool_choice: 'auto',
      tools: [],
      top_p: null,
      truncation: 'disabled',
      usage: { input_tokens: 12, input_tokens_details: { cached_tokens: 4 }, output_tokens: 3, output_tokens_details: { reasoning_tokens: 1 }, total_tokens: 15 },
      user: 'u1',
      metadata: { team: 'a' },
    })
    expect(r).not.toHaveProperty('output_text') // the SDKs add it; the wire has none
  })

  it('tool calls become function_call items after any words', async () => {
    const r = await turn(
      { model: 'm', input: 'weather in Paris and Rome?', tools: [{ type: 'function', name: 'weather', parameters: { type: 'object' } }] },
      completion({ content: 'Checking.', tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }, { id: 'call_b', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } }] }, 'tool_calls'),
    )
    expect(r.status).toBe('completed')
    expect(r.output.map((o: any) => [o.type, o.id.split('_')[0]])).toEqual([['message', 'msg'], ['function_call', 'fc'], ['function_call', 'fc']])
    expect(r.output[2]).toEqual({ id: r.output[2].id, type: 'function_call', status: 'completed', arguments: '{"city":"Rome"}', call_id: 'call_b', name: 'weather' })
    expect(r.tools).toEqual([{ type: 'function', name: 'weather', description: null, parameters: { type: 'object' }, strict: null }])
    const only = await turn({ model: 'm', input: 'x', tools: [{ type: 'function', name: 'f' }] }, completion({ content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] }, 'tool_calls'))
    expect(only.output.map((o: any) => o.type)).toEqual(['function_call'])
  })

  it('an answer cut at max_output_tokens is incomplete, and says why', async () => {
    const r = await turn({ model: 'm', input: 'a long story', max_output_tokens: 5 }, completion({ content: 'Once upon a' }, 'length'))
    expect(r.status).toBe('incomplete')
    expect(r.incomplete_details).toEqual({ reason: 'max_output_tokens' })
    expect(r.output[0].status).toBe('incomplete')
  })

  it('a refusal is a refusal part', async () => {
    const r = await turn({ model: 'm', input: 'x' }, completion({ content: null, refusal: 'I cannot help with that.' }))
    expect(r.output[0].content).toEqual([{ type: 'refusal', refusal: 'I cannot help with that.' }])
  })
})

describe('GET, DELETE /v1/responses/{id} and input_items', () => {
  const get = (method: string, path: string, store: MemoryStore, scope = 'key-a') => {
    const u = new URL(`http://x${path}`)
    return responsesRoute(method, u.pathname, u.searchParams, { store, scope: () => Promise.resolve(scope) })
  }

  it('the stored response comes back to its owner; another key gets the 404 a missing id gets', async () => {
    const store = new MemoryStore()
    const r = await turn({ model: 'm', input: 'Hi' }, completion({ content: 'Hello' }), context(store))
    const mine = await get('GET', `/v1/responses/${r.id}`, store)
    expect(mine!.status).toBe(200)
    expect(await mine!.json()).toEqual(r)
    const theirs = await get('GET', `/v1/responses/${r.id}`, store, 'key-b')
    const none = await get('GET', '/v1/responses/resp_00000000000000000000000000000000', store, 'key-b')
    expect(theirs!.status).toBe(404)
    expect(none!.status).toBe(404)
    expect((await theirs!.json()).error.type).toBe((await none!.json()).error.type)
    expect(await get('GET', '/v1/chat/completions', store)).toBeUndefined()
  })

  it('input_items lists this turn\'s input, newest first by default', async () => {
    const store = new MemoryStore()
    const r = await turn({ model: 'm', input: [{ role: 'user', content: 'one' }, { role: 'user', content: [{ type: 'input_text', text: 'two' }] }] }, completion({ content: 'ok' }), context(store))
    const list = await (await get('GET', `/v1/responses/${r.id}/input_items`, store))!.json()
    expect(list.object).toBe('list')
    expect(list.data.map((i: any) => i.content[0].text)).toEqual(['two', 'one'])
    expect(list.data[1]).toEqual({ id: expect.stringMatching(/^msg_/), type: 'message', role: 'user', content: [{ type: 'input_text', text: 'one' }], status: 'completed' })
    expect([list.first_id, list.last_id]).toEqual([list.data[0].id, list.data[1].id])
    expect(list.has_more).toBe(false)
    const asc = await (await get('GET', `/v1/responses/${r.id}/input_items?order=asc&limit=1`, store))!.json()
    expect([asc.data.length, asc.data[0].content[0].text, asc.has_more]).toEqual([1, 'one', true])
    expect((await get('GET', `/v1/responses/${r.id}/input_items`, store, 'key-b'))!.status).toBe(404)
  })

  it('DELETE forgets it (and only its owner may)', async () => {
    const store = new MemoryStore()
    const r = await turn({ model: 'm', input: 'Hi' }, completion({ content: 'Hello' }), context(store))
    expect((await get('DELETE', `/v1/responses/${r.id}`, store, 'key-b'))!.status).toBe(404)
    const del = await get('DELETE', `/v1/responses/${r.id}`, store)
    expect(await del!.json()).toEqual({ id: r.id, object: 'response.deleted', deleted: true })
    expect((await get('GET', `/v1/responses/${r.id}`, store))!.status).toBe(404)
  })

  it('keeps responses for the configured retention', async () => {
    let now = 1_000_000
    const store = new MemoryStore(() => now)
    const r = await turn({ model: 'm', input: 'Hi' }, completion({ content: 'Hello' }), context(store))
    now += 59_000
    expect((await get('GET', `/v1/responses/${r.id}`, store))!.status).toBe(200)
    now += 2_000
    expect((await get('GET', `/v1/responses/${r.id}`, store))!.status).toBe(404)
  })
})
