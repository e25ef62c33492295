// The Cohere provider piece by piece: config, request translation, stream
// decoding however the bytes are split, and error classes.
import { describe, expect, it } from 'vitest'
import { buildConfig } from '../../src/config/source.ts'
import type { Backend } from '../../src/config/compile.ts'
import { cohere } from '../../src/providers/cohere/index.ts'
import { toCohereRequest } from '../../src/providers/cohere/request.ts'
import { CohereStreamTranslator } from '../../src/providers/cohere/stream.ts'
import { UpstreamError } from '../../src/providers/errors.ts'
import type { UpstreamCall } from '../../src/providers/types.ts'

const backendDoc = (name: string, url: string) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: ${name} }
spec: { type: external, external: { url: "${url}", provider: Cohere, model: command-a-03-2025, apiKeySecret: { name: co, key: k } } }
`

async function backends(): Promise<Map<string, Backend>> {
  const c = await buildConfig(backendDoc('native', 'https://api.cohere.com') + backendDoc('v2', 'https://api.cohere.com/v2/') + backendDoc('compat', 'https://api.cohere.ai/compatibility/v1'), (n) => (n === 'CO_K' ? 'secret-key-value' : undefined))
  return c.backends
}

describe('config', () => {
  it('provider: cohere is native v2; its compatibility URL keeps the OpenAI format it always had', async () => {
    const b = await backends()
    expect(b.get('default/native')).toMatchObject({ provider: 'cohere', baseUrl: 'https://api.cohere.com' })
    expect(b.get('default/v2')).toMatchObject({ provider: 'cohere', baseUrl: 'https://api.cohere.com' })
    expect(b.get('default/compat')).toMatchObject({ provider: 'openai', baseUrl: 'https://api.cohere.ai/compatibility/v1' })
  })
})

describe('request', () => {
  const tools = [
    { type: 'function', function: { name: 'a', parameters: { type: 'object' } } },
    { type: 'function', function: { name: 'b', parameters: { type: 'object' } } },
  ]
  it('a named tool_choice offers only that tool, required', () => {
    const r = toCohereRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], tools, tool_choice: { type: 'function', function: { name: 'b' } } }, false)
    expect(r.tools.map((t: any) => t.function.name)).toEqual(['b'])
    expect(r.tool_choice).toBe('REQUIRED')
  })
  it('json_schema becomes json_object with the schema; none is NONE', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } } }
    const r = toCohereRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], tools, tool_choice: 'none', response_format: { type: 'json_schema', json_schema: { name: 's', schema } } }, true)
    expect(r.response_format).toEqual({ type: 'json_object', json_schema: schema })
    expect(r.tool_choice).toBe('NONE')
    expect(r.stream).toBe(true)
  })
  it('text said with tool calls is the tool plan; user images pass as image_url', () => {
    const r = toCohereRequest(
      {
        model: 'm',
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'what is it?' }, { type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] },
          { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 't1', type: 'function', function: { name: 'a', arguments: '{}' } }] },
        ],
      },
      false,
    )
    expect(r.messages[0].content[1]).toEqual({ type: 'image_url', image_url: { url: 'https://example.com/a.png' } })
    expect(r.messages[1]).toEqual({ role: 'assistant', tool_plan: 'Checking.', tool_calls: [{ id: 't1', type: 'function', function: { name: 'a', arguments: '{}' } }] })
  })
  it('n > 1 is refused as the client\'s mistake', () => {
    expect(() => toCohereRequest({ model: 'm', messages: [], n: 2 }, false)).toThrow(UpstreamError)
  })
})

const SSE = [
  ['message-start', { id: 'abc', type: 'message-start', delta: { message: { role: 'assistant', content: [] } } }],
  ['content-start', { type: 'content-start', index: 0, delta: { message: { content: { type: 'text', text: '' } } } }],
  ['content-delta', { type: 'content-delta', index: 0, delta: { message: { content: { text: 'Grüße ' } } } }],
  ['content-delta', { type: 'content-delta', index: 0, delta: { message: { content: { text: '日本' } } } }],
  ['citation-start', { type: 'citation-start', index: 0, delta: { message: { citations: { start: 0, end: 5, text: 'Grüße', sources: [] } } } }],
  ['citation-end', { type: 'citation-end', index: 0 }],
  ['content-end', { type: 'content-end', index: 0 }],
  ['message-end', { type: 'message-end', delta: { finish_reason: 'MAX_TOKENS', usage: { billed_units: { input_tokens: 3, output_tokens: 2 }, tokens: { input_tokens: 90, output_tokens: 2 } } } }],
]
  .map(([e, d]) => `event: ${e}\r\ndata: ${JSON.stringify(d)}\r\n\r\n`)
  .join('')

function run(pieces: string[]): any[] {
  const t = new CohereStreamTranslator('m', () => 0)
  const out = [...pieces.flatMap((p) => t.push(p)), ...t.end()]
  const text = out.map((b) => new TextDecoder().decode(b)).join('')
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((e) => e.replace(/^data: /, ''))
    .map((d) => (d === '[DONE]' ? d : JSON.parse(d)))
}

describe('stream', () => {
  it('the same chunks whether the events come whole or a character at a time (CRLF lines)', () => {
    const whole = run([SSE])
    expect(run([...SSE])).toEqual(whole)
    expect(whole.map((c) => (c === '[DONE]' ? c : c.choices[0]?.delta.content ?? c.choices[0]?.finish_reason ?? 'usage'))).toEqual(['', 'Grüße ', '日本', 'length', 'usage', '[DONE]'])
    expect(whole.at(-2).usage).toEqual({ prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 })
    expect(whole[0].id).toBe('abc')
  })
  it('a stream cut before message-end ends in an error event, not [DONE]', () => {
    const cut = run([SSE.slice(0, SSE.indexOf('event: message-end'))])
    expect(cut.at(-1).error.code).toBe('upstream_stream_truncated')
    expect(cut).not.toContain('[DONE]')
  })
})

describe('errors', () => {
  const call = async (backend: Backend, status: number, body: object): Promise<UpstreamError> => {
    const c: UpstreamCall = {
      backend,
      op: 'chat',
      body: { model: 'command-a-03-2025', messages: [{ role: 'user', content: 'x' }] },
      stream: false,
      signal: new AbortController().signal,
      requestId: 'r',
      fetch: async () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }),
    }
    return cohere.send(c).then(
      () => {
        throw new Error('expected a failure')
      },
      (e) => e,
    )
  }
  it("Cohere's statuses and messages map to the classes failover acts on", async () => {
    const b = (await backends()).get('default/native')!
    expect((await call(b, 429, { message: 'trial key limited' })).cls).toBe('rate_limit')
    expect((await call(b, 401, { message: 'invalid api token' })).cls).toBe('auth')
    expect((await call(b, 402, { message: 'Please add a payment method' })).cls).toBe('billing')
    expect((await call(b, 500, { message: 'internal server error' })).cls).toBe('server')
    const ctx = await call(b, 400, { message: 'too many tokens: total number of tokens in the prompt cannot exceed 4081' })
    expect(ctx.cls).toBe('context_window')
    const bad = await call(b, 400, { message: 'invalid request: temperature must be between 0 and 1' })
    expect(bad).toMatchObject({ cls: 'bad_request', message: 'invalid request: temperature must be between 0 and 1' })
    // A 200 whose generation failed is a server failure, not an empty answer.
    expect((await call(b, 200, { id: 'x', finish_reason: 'ERROR', message: { role: 'assistant', content: [] } })).cls).toBe('server')
  })
})
