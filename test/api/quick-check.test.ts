// The quick check that lets a chat request skip zod must never pass what the
// schema refuses (or the client would miss the 400 that names its field), and
// must pass the requests clients really send (or it saves nothing).
import { describe, expect, it } from 'vitest'
import { chatRequest, quickChat } from '../../src/api/openai/schemas.ts'

const base = () => ({
  model: 'gpt-4o',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: 'data:,' } }] },
    { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
    { role: 'tool', content: 'ok', tool_call_id: 'c1' },
  ],
  tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
  stream: true,
  stream_options: { include_usage: true },
  max_tokens: 10,
  max_completion_tokens: 20,
  temperature: 0.2,
  top_p: 1,
  n: 2,
  stop: ['\n'],
  user: 'u1',
  seed: 7,
  response_format: { type: 'json_object' },
})

const odd = [undefined, null, true, false, 0, 1, -1, 1.5, 2 ** 60, Infinity, NaN, '', 'x', [], ['x'], [1], {}, { type: 'x' }, { include_usage: 'yes' }, { include_usage: false }]

describe('quickChat', () => {
  it('passes the requests clients send', () => {
    expect(quickChat(base())).toBe(true)
    expect(quickChat({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })).toBe(true)
  })

  it('never passes what the schema refuses: every field, every odd value, at the top and inside messages and tools', () => {
    let checked = 0
    let refusedByBoth = 0
    const variants: unknown[] = [null, [], 'x', 1]
    for (const key of Object.keys(base())) {
      for (const v of odd) {
        variants.push({ ...base(), [key]: v })
      }
    }
    for (const v of odd) {
      variants.push({ ...base(), messages: [{ role: v, content: 'x' }] })
      variants.push({ ...base(), messages: [{ role: 'user', content: v }] })
      variants.push({ ...base(), messages: [{ role: 'user', content: [v] }] })
      variants.push({ ...base(), messages: [v] })
      variants.push({ ...base(), tools: [v] })
      variants.push({ ...base(), stop: [v] })
    }
    for (const body of variants) {
      const schema = chatRequest.safeParse(body).success
      if (quickChat(body)) expect(schema, JSON.stringify(body)).toBe(true)
      else if (!schema) refusedByBoth++
      checked++
    }
    expect(checked).toBeGreaterThan(400)
    expect(refusedByBoth).toBeGreaterThan(100)
  })
})
