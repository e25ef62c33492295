// A Responses client on an OpenAI backend set to `responsesApi: native`: the
// request goes to /v1/responses as sent (model aside) and the answer comes
// back untouched, failing over before its first content and ending in an
// OpenAI `error` event (its sequence_number following on) when it breaks
// after. A backend left on `translate` gets the internal form.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { KEY, configWith, run, sse, startUpstream, text, type Upstream } from './native-harness.ts'
import type { CompiledConfig } from '../../src/config/compile.ts'
import { webStream } from '../../src/providers/types.ts'

let up: Upstream
beforeAll(async () => (up = await startUpstream()))
afterAll(() => up.close())
beforeEach(() => {
  up.received.length = 0
  for (const k of Object.keys(up.script)) delete up.script[k]
})

const openai = (name: string, extra = '') => `{ url: "${up.url}/${name}/v1", provider: openai, apiKeySecret: { name: up, key: key }${extra} }`
const nativeConfig = () => configWith(openai('a', ', responsesApi: native, model: gpt-backend'), openai('b', ', responsesApi: Native'), '  forwardHeaders: [openai-beta]\n')

const RAW = `{"model":"gpt-client","input":[{"role":"user","content":[{"type":"input_text","text":"Hi"}]}],
  "instructions":"Be brief.", "store":false, "text":{"format":{"type":"json_schema","name":"a","strict":true,"schema":{"type":"object"}}}}`
const BODY = JSON.parse(RAW)
const responses = (stream = false) => ({
  native: { protocol: 'responses' as const, body: stream ? { ...BODY, stream: true } : BODY, raw: stream ? JSON.stringify({ ...BODY, stream: true }) : RAW, headers: { authorization: 'Bearer client-key-never-sent', 'openai-beta': 'responses=v1', 'x-other': 'no' } },
  stream,
})

const USAGE = { input_tokens: 328, input_tokens_details: { cached_tokens: 128 }, output_tokens: 52, output_tokens_details: { reasoning_tokens: 12 }, total_tokens: 380 }
const RESPONSE = { id: 'resp_1', object: 'response', created_at: 1741476542, status: 'completed', error: null, incomplete_details: null, model: 'gpt-backend', output: [{ type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: '{}', annotations: [] }] }], usage: USAGE }
const INTERNAL_USAGE = { prompt_tokens: 328, completion_tokens: 52, total_tokens: 380, prompt_tokens_details: { cached_tokens: 128 }, completion_tokens_details: { reasoning_tokens: 12 } }

/** The event sequence OpenAI streams, numbered from 0; `none`: cut after the deltas, with no end. */
function events(texts: string[], end: 'completed' | 'none' = 'completed') {
  const inProgress = { ...RESPONSE, status: 'in_progress', output: [], usage: null }
  const ev: Array<{ type: string } & Record<string, unknown>> = [
    { type: 'response.created', response: inProgress },
    { type: 'response.in_progress', response: inProgress },
    { type: 'response.output_item.added', output_index: 0, item: { type: 'message', id: 'msg_1', status: 'in_progress', role: 'assistant', content: [] } },
    { type: 'response.content_part.added', item_id: 'msg_1', output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } },
    ...texts.map((delta) => ({ type: 'response.output_text.delta', item_id: 'msg_1', output_index: 0, content_index: 0, delta, logprobs: [] })),
  ]
  if (end === 'completed') ev.push({ type: 'response.output_text.done', item_id: 'msg_1', output_index: 0, content_index: 0, text: texts.join(''), logprobs: [] }, { type: 'response.completed', response: RESPONSE })
  return ev.map((e, i) => sse({ ...e, sequence_number: i }))
}
const failed = (seq: number, code: string, message: string) => sse({ type: 'response.failed', sequence_number: seq, response: { ...RESPONSE, status: 'failed', output: [], usage: null, error: { code, message } } })

describe('a Responses request to a backend that serves /v1/responses natively', () => {
  let cfg: CompiledConfig
  beforeAll(async () => (cfg = await nativeConfig()))

  it('goes to /v1/responses as sent (model aside), with our key and the allowed headers only', async () => {
    up.script.a = { status: 200, json: RESPONSE }
    const answer = await run(cfg, responses())
    const got = up.received[0]!
    expect(got.path).toBe('/v1/responses')
    expect(JSON.parse(got.text)).toEqual({ ...BODY, model: 'gpt-backend' })
    expect(got.headers.authorization).toBe(`Bearer ${KEY}`)
    expect(got.headers['openai-beta']).toBe('responses=v1')
    expect(got.headers['x-other']).toBeUndefined()
    if (answer.kind !== 'json' || !answer.native) throw new Error('expected a native JSON answer')
    expect(new TextDecoder().decode(answer.raw)).toBe(JSON.stringify(RESPONSE))
    expect(answer.usage).toEqual(INTERNAL_USAGE)
  })

  it("keeps the client's bytes when the backend keeps the model name", async () => {
    up.script.a = { status: 500, json: { error: { message: 'boom', type: 'server_error' } } }
    up.script.b = { status: 200, json: RESPONSE }
    const answer = await run(cfg, responses())
    expect(answer.backend.name).toBe('b')
    expect(up.received[1]!.text).toBe(RAW)
  })

  it('a failed response sent with 200 is a failure, and fails over', async () => {
    up.script.a = { status: 200, json: { ...RESPONSE, status: 'failed', output: [], error: { code: 'server_error', message: 'The model failed' } } }
    up.script.b = { status: 200, json: RESPONSE }
    const answer = await run(cfg, responses())
    expect(answer.backend.name).toBe('b')
    expect(answer.failures[0]).toMatchObject({ backend: 'a', cls: 'server', message: 'The model failed' })
  })

  it('streams every event through untouched and reads usage from response.completed', async () => {
    const sent = events(['{', '}'])
    up.script.a = { events: sent }
    const answer = await run(cfg, responses(true))
    if (answer.kind !== 'stream') throw new Error('expected a stream')
    expect(answer.native).toBe(true)
    expect(await text(answer.body)).toBe(sent.join(''))
    const done = await answer.done
    expect(done.usage).toEqual(INTERNAL_USAGE)
    expect(done.error).toBeUndefined()
  })

  it('response.failed before any content fails over to the next backend', async () => {
    up.script.a = { events: [...events([], 'none'), failed(4, 'server_error', 'The server had an error')] }
    up.script.b = { events: events(['from b']) }
    const answer = await run(cfg, responses(true))
    if (answer.kind !== 'stream') throw new Error('expected a stream')
    expect(answer.backend.name).toBe('b')
    expect(answer.failures[0]).toMatchObject({ backend: 'a', cls: 'server', message: 'The server had an error' })
    const out = await text(answer.body)
    expect(out).toContain('from b')
    expect(out).not.toContain('The server had an error')
  })

  it('an error event before any content that is rate limiting fails over as a rate limit', async () => {
    up.script.a = { events: [...events([], 'none').slice(0, 2), sse({ type: 'error', code: 'rate_limit_exceeded', message: 'Slow down', param: null, sequence_number: 2 })] }
    up.script.b = { events: events(['from b']) }
    const answer = await run(cfg, responses(true))
    expect(answer.backend.name).toBe('b')
    expect(answer.failures[0]).toMatchObject({ cls: 'rate_limit', message: 'Slow down' })
  })

  it("after content, the upstream's failure events pass on and the outcome says error", async () => {
    const fail = [sse({ type: 'error', code: 'server_error', message: `boom ${KEY}`, param: null, sequence_number: 5 }), failed(6, 'server_error', 'boom')]
    up.script.a = { events: [...events(['par'], 'none'), ...fail] }
    const answer = await run(cfg, responses(true))
    if (answer.kind !== 'stream') throw new Error('expected a stream')
    const out = await text(answer.body)
    expect(out).toContain('"delta":"par"')
    expect(out).not.toContain(KEY)
    expect(out.endsWith(fail[1]!)).toBe(true)
    expect((await answer.done).error).toBe('boom ***')
  })

  it('a stream cut after content ends in an error event numbered after the last one', async () => {
    up.script.a = { events: events(['par', 'tial'], 'none') } // sequence numbers 0..5
    const answer = await run(cfg, responses(true))
    if (answer.kind !== 'stream') throw new Error('expected a stream')
    const last = (await text(answer.body)).trim().split('\n\n').at(-1)!
    expect(last.split('\n')[0]).toBe('event: error')
    expect(JSON.parse(last.split('\n')[1]!.slice(6))).toEqual({ type: 'error', code: 'upstream_stream_truncated', message: 'The upstream stream ended before the response was complete', param: null, sequence_number: 6 })
    expect((await answer.done).error).toBeDefined()
  })

  it('the client going away cancels the upstream request', async () => {
    up.script.a = { events: events(['par'], 'none'), hang: true }
    const client = new AbortController()
    const answer = await run(cfg, { ...responses(true), signal: client.signal })
    if (answer.kind !== 'stream') throw new Error('expected a stream')
    const closed = up.closed('a')
    await webStream(answer.body).cancel()
    client.abort()
    await closed
    expect(await answer.done).toMatchObject({ cancelled: true })
  })
})

describe('a Responses request to an OpenAI backend left on translate (the default)', () => {
  it('gets the internal form at /chat/completions; the answer is not native', async () => {
    const cfg = await configWith(openai('a'), openai('b'))
    up.script.a = { status: 200, json: { id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }] } }
    const answer = await run(cfg, responses())
    expect(up.received[0]!.path).toBe('/v1/chat/completions')
    expect(answer.native).toBeFalsy()
  })
})
