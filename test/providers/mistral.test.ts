// The Mistral provider piece by piece: tool call ids, error bodies, the
// stream rewrite, and config.
import { describe, expect, it } from 'vitest'
import { buildConfig } from '../../src/config/source.ts'
import type { Backend } from '../../src/config/compile.ts'
import { mistral } from '../../src/providers/mistral/index.ts'
import { ToolIds } from '../../src/providers/mistral/ids.ts'
import { toOpenAIError } from '../../src/providers/mistral/errors.ts'
import { MistralStreamTranslator } from '../../src/providers/mistral/stream.ts'
import type { UpstreamError } from '../../src/providers/errors.ts'

async function backend(url: string, extra = ''): Promise<Backend> {
  const c = await buildConfig(
    `apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: m }
spec: { type: external, external: { url: "${url}", provider: Mistral, model: mistral-large-latest, apiKeySecret: { name: mi, key: k }${extra} } }
`,
    () => 'key-value-for-tests',
  )
  return c.backends.get('default/m')!
}

describe('config', () => {
  it('the API root gets /v1; safePrompt is read from the backend', async () => {
    expect(await backend('https://api.mistral.ai')).toMatchObject({ provider: 'mistral', baseUrl: 'https://api.mistral.ai/v1' })
    expect((await backend('https://api.mistral.ai/v1', ', safePrompt: true')).spec.external?.safePrompt).toBe(true)
  })
})

describe('tool call ids', () => {
  it('ids that do not fit get 9 letters and digits, the same each time; fitting ones stay', async () => {
    const a = new ToolIds()
    const b = new ToolIds()
    await a.learn(['call_abc123', 'toolu_01A09q90qw90lq917835lq9', 'D681PevKs', 'call_abc123'])
    await b.learn(['call_abc123'])
    expect(a.out('call_abc123')).toMatch(/^[a-zA-Z0-9]{9}$/)
    expect(a.out('call_abc123')).toBe(b.out('call_abc123'))
    expect(a.out('toolu_01A09q90qw90lq917835lq9')).not.toBe(a.out('call_abc123'))
    expect(a.out('D681PevKs')).toBe('D681PevKs')
    expect(a.back(a.out('call_abc123'))).toBe('call_abc123')
    expect(a.back('zzzzzzzzz')).toBe('zzzzzzzzz')
  })
})

describe('error bodies', () => {
  it('the documented form and the 422 validation form, in OpenAI words', () => {
    expect(toOpenAIError(JSON.stringify({ object: 'error', message: 'Requests rate limit exceeded', type: 'rate_limit_error', param: null, code: 1300 }))).toEqual({
      error: { message: 'Requests rate limit exceeded', type: 'rate_limit_error', param: null, code: '1300' },
    })
    const v = toOpenAIError(
      JSON.stringify({ object: 'error', message: { detail: [{ type: 'extra_forbidden', loc: ['body', 'n'], msg: 'Extra inputs are not permitted', input: 1 }] }, type: 'invalid_request_error', param: null, code: null }),
    )
    expect(v).toEqual({ error: { message: 'body.n: Extra inputs are not permitted', type: 'invalid_request_error', param: 'n', code: null } })
    expect(toOpenAIError(JSON.stringify({ detail: [{ loc: ['body', 'store'], msg: 'Extra inputs are not permitted' }] }))?.error.message).toBe('body.store: Extra inputs are not permitted')
    expect(toOpenAIError('<html>')).toBeUndefined()
  })

  it('statuses map to the classes failover acts on; 401 bodies have only a message', async () => {
    const b = await backend('https://api.mistral.ai/v1')
    const fail = (status: number, body: object, headers: Record<string, string> = {}) =>
      mistral
        .send({ backend: b, op: 'chat', body: { model: 'm', messages: [] }, stream: false, signal: new AbortController().signal, requestId: 'r', fetch: async () => new Response(JSON.stringify(body), { status, headers }) })
        .catch((e: UpstreamError) => e) as Promise<UpstreamError>
    expect((await fail(401, { message: 'Unauthorized', request_id: 'x' })).cls).toBe('auth')
    expect(await fail(429, { object: 'error', message: 'Requests rate limit exceeded', type: 'rate_limit_error', param: null, code: '1300' }, { 'retry-after': '7' })).toMatchObject({ cls: 'rate_limit', retryAfter: 7 })
    expect((await fail(503, { object: 'error', message: 'Service unavailable', type: 'server_error', param: null, code: null })).cls).toBe('server')
    const v = await fail(422, { object: 'error', message: { detail: [{ type: 'extra_forbidden', loc: ['body', 'foo'], msg: 'Extra inputs are not permitted' }] }, type: 'invalid_request_error', param: null, code: null })
    expect(v).toMatchObject({ cls: 'bad_request', upstreamStatus: 422, message: 'body.foo: Extra inputs are not permitted', param: 'foo' })
  })
})

describe('stream', () => {
  const decode = (out: Uint8Array[]) =>
    out
      .map((b) => new TextDecoder().decode(b))
      .join('')
      .split('\n\n')
      .filter(Boolean)
      .map((e) => e.replace(/^data: /, ''))
      .map((d) => (d === '[DONE]' ? d : JSON.parse(d)))

  it("a mapped id comes back as the client's in the deltas", async () => {
    const ids = new ToolIds()
    await ids.learn(['call_abc123'])
    const t = new MistralStreamTranslator(ids)
    const chunk = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { tool_calls: [{ id: ids.out('call_abc123'), index: 0, function: { name: 'f', arguments: '{}' } }] }, finish_reason: null }] }
    const out = decode(t.push(`data: ${JSON.stringify(chunk)}\n\ndata: [DONE]\n\n`))
    expect(out[0].choices[0].delta.tool_calls[0].id).toBe('call_abc123')
    expect(out[1]).toBe('[DONE]')
  })

  it('an error chunk or a missing [DONE] is an error event', () => {
    const t = new MistralStreamTranslator(new ToolIds())
    const err = decode(t.push(`data: ${JSON.stringify({ object: 'error', message: 'Service unavailable', type: 'server_error', param: null, code: '3000' })}\n\n`))
    expect(err[0].error).toMatchObject({ message: 'Service unavailable', type: 'server_error', code: '3000' })
    const cut = new MistralStreamTranslator(new ToolIds())
    cut.push('data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n')
    expect(decode(cut.end())[0].error.code).toBe('upstream_stream_truncated')
  })
})
