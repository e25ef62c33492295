// The quick check that lets a Messages request skip zod must never pass what
// the schema refuses (the client would miss the 400 naming its field), and
// must pass what clients really send (or it saves nothing).
import { expect, it } from 'vitest'
import { quickMessages, quickPrompt } from '../../../src/api/messages/quick-check.ts'
import { countTokensRequest, messagesRequest } from '../../../src/api/messages/schema.ts'

const base = () => ({
  model: 'claude-sonnet-4-5',
  max_tokens: 1024,
  system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
  messages: [
    { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AA' } }, { type: 'image', source: { type: 'url', url: 'https://x' } }] },
    { role: 'assistant', content: [{ type: 'thinking', thinking: 't', signature: 's' }, { type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'ok' }], is_error: false }] },
    { role: 'system', content: 'Now be terse.' },
    { role: 'user', content: 'thanks' },
  ],
  tools: [{ name: 'f', description: 'd', input_schema: { type: 'object' } }, { type: 'web_search_20250305', name: 'web_search' }],
  tool_choice: { type: 'tool', name: 'f', disable_parallel_tool_use: true },
  stop_sequences: ['###'],
  stream: true,
  temperature: 0.5,
  top_p: 0.9,
  top_k: 10,
  metadata: { user_id: 'u1' },
})

const odd = [undefined, null, true, 0, 1, -1, 1.5, '', 'x', 'custom', 'text', 'base64', 'tool', 'system', [], ['x'], [{}], {}, { type: 'x' }, { type: 'text' }]

/** Every body that differs from `v` in one place: each value at each path replaced by each odd value. */
function* mutations(v: unknown, set: (x: unknown) => unknown): Generator<unknown> {
  for (const o of odd) yield set(o)
  if (Array.isArray(v)) for (let i = 0; i < v.length; i++) yield* mutations(v[i], (y) => set(v.map((z, j) => (j === i ? y : z))))
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) yield* mutations(x, (y) => set({ ...(v as object), [k]: y }))
}

it('passes the requests clients send', () => {
  expect(quickMessages(base())).toBe(true)
  expect(quickMessages({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] })).toBe(true)
  expect(quickPrompt({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })).toBe(true)
})

it('never passes what the schema refuses, whatever one value anywhere in the body is changed to', () => {
  let checked = 0
  let refused = 0
  const b = base()
  for (const body of mutations(b, (x) => x)) {
    for (const [quick, schema] of [[quickMessages, messagesRequest], [quickPrompt, countTokensRequest]] as const) {
      const ok = schema.safeParse(body).success
      if (quick(body)) expect(ok, JSON.stringify(body)).toBe(true)
      if (!ok) refused++
      checked++
    }
  }
  expect(checked).toBeGreaterThan(2000)
  expect(refused).toBeGreaterThan(500) // the mutations do reach what the schema refuses
})
