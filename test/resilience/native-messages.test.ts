// A Messages client on an Anthropic backend: the request reaches Anthropic
// as the client sent it (model aside), with our key and only the headers
// the route allows; the answer comes back untouched, and still fails over
// before its first content and ends in Anthropic's own error event when it
// breaks after.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { CLIENT_KEY, KEY, configWith, run, sse, startUpstream, text, type Upstream } from './native-harness.ts'
import type { CompiledConfig } from '../../src/config/compile.ts'
import { webStream } from '../../src/providers/types.ts'

let up: Upstream
beforeAll(async () => (up = await startUpstream()))
afterAll(() => up.close())
beforeEach(() => {
  up.received.length = 0
  for (const k of Object.keys(up.script)) delete up.script[k]
})

const anthropic = (name: string, extra = '') => `{ url: "${up.url}/${name}", provider: anthropic, apiKeySecret: { name: up, key: key }${extra} }`
const config = (routeExtra = '  forwardHeaders: [anthropic-beta]\n', aExtra = ', model: claude-backend') => configWith(anthropic('a', aExtra), anthropic('b'), routeExtra)

// As a client writes it: prompt caching, an earlier turn's thinking block, odd spacing.
const RAW = `{"model":"claude-client",  "max_tokens":1024,
  "system":[{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral"}}],
  "thinking":{"type":"enabled","budget_tokens":2000},
  "messages":[{"role":"user","content":"2+2?"},
    {"role":"assistant","content":[{"type":"thinking","thinking":"Add them.","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3h"},{"type":"text","text":"4"}]},
    {"role":"user","content":[{"type":"text","text":"and 3+3?","cache_control":{"type":"ephemeral"}}]}]}`
const BODY = JSON.parse(RAW)
const CLIENT_HEADERS = { 'x-api-key': CLIENT_KEY, authorization: `Bearer ${CLIENT_KEY}`, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'prompt-caching-2024-07-31', 'x-other': 'no' }
const messages = (stream = false, headers: Record<string, string> = CLIENT_HEADERS) => ({
  native: { protocol: 'messages' as const, body: stream ? { ...BODY, stream: true } : BODY, raw: stream ? JSON.stringify({ ...BODY, stream: true }) : RAW, headers },
  stream,
})

const USAGE = { input_tokens: 25, cache_creation_input_tokens: 10, cache_read_input_tokens: 100, output_tokens: 15 }
const MESSAGE = { id: 'msg_01', type: 'message', role: 'assistant', model: 'claude-backend', content: [{ type: 'thinking', thinking: 'Easy.', signature: 'sig' }, { type: 'text', text: '6' }], stop_reason: 'end_turn', stop_sequence: null, usage: USAGE }
const START = sse({ type: 'message_start', message: { ...MESSAGE, content: [], stop_reason: null, usage: { ...USAGE, output_tokens: 1 } } })
const BLOCK = sse({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })
const PING = sse({ type: 'ping' })
const delta = (t: string) => sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } })
const END = [sse({ type: 'content_block_stop', index: 0 }), sse({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 15 } }), sse({ type: 'message_stop' })]
const anthropicError = (type: string, message: string) => ({ type: 'error', error: { type, message } })
const errorEvent = (type: string, message: string) => sse(anthropicError(type, message) as never)

describe('a Messages request to an Anthropic backend', () => {
  let cfg: CompiledConfig
  beforeAll(async () => (cfg = await config()))

  it('goes to /v1/messages as the client wrote it, the model aside, with our key and the allowed beta header', async () => {
    up.script.a = { status: 200, json: MESSAGE }
    const answer = await run(cfg, messages())
    const got = up.received[0]!
    expect(got.path).toBe('/v1/messages')
    expect(JSON.parse(got.text)).toEqual({ ...BODY, model: 'claude-backend' })
    expect(got.headers['x-api-key']).toBe(KEY)
    expect(got.headers.authorization).toBeUndefined()
    expect(got.headers['anthropic-version']).toBe('2023-06-01')
    expect(got.headers['anthropic-beta']).toBe('prompt-caching-2024-07-31')
    expect(got.headers['x-other']).toBeUndefined()
    expect(answer).toMatchObject({ kind: 'json', native: true, body: MESSAGE })
  })

  it('keeps the client\'s bytes when the backend keeps the model name', async () => {
    up.script.a = { status: 200, json: MESSAGE }
    await run(await config(undefined, ''), messages())
    expect(up.received[0]!.text).toBe(RAW)
  })

  it('sends anthropic-beta only when the route allows it, and the default version when the client sends none', async () => {
    up.script.a = { status: 200, json: MESSAGE }
    const { 'anthropic-version': _, ...noVersion } = CLIENT_HEADERS
    await run(await config(''), messages(false, { ...noVersion, 'anthropic-version': '' }))
    await run(await config(''), messages(false, noVersion))
    for (const got of up.received) {
      expect(got.headers['anthropic-beta']).toBeUndefined()
      expect(got.headers['anthropic-version']).toBe('2023-06-01')
      expect(got.headers['x-api-key']).toBe(KEY)
    }
  })

  it("adds the client's beta flags to those the backend's own headers set", async () => {
    up.script.a = { status: 200, json: MESSAGE }
    await run(await config(undefined, ', headers: { anthropic-beta: operator-beta }'), messages())
    expect(up.received[0]!.headers['anthropic-beta']).toBe('operator-beta, prompt-caching-2024-07-31')
  })

  it('hands back the message untouched, with its usage (cache reads and writes) in the internal form', async () => {
    up.script.a = { status: 200, json: MESSAGE }
    const answer = await run(cfg, messages())
    if (answer.kind !== 'json' || !answer.native) throw new Error('expected a native JSON answer')
    expect(new TextDecoder().decode(answer.raw)).toBe(JSON.stringify(MESSAGE))
    expect(answer.usage).toMatchObject({ prompt_tokens: 135, completion_tokens: 15, total_tokens: 150, prompt_tokens_details: { cached_tokens: 100 }, cache_creation_input_tokens: 10, cache_read_input_tokens: 100 })
  })

  it('fails over on 529 overloaded to the next backend', async () => {
    up.script.a = { status: 529, json: anthropicError('overloaded_error', 'Overloaded') }
    up.script.b = { status: 200, json: MESSAGE }
    const answer = await run(cfg, messages())
    expect(answer.backend.name).toBe('b')
    expect(answer.failures).toEqual([{ backend: 'a', cls: 'server', message: 'Overloaded', status: 529 }])
    expect(JSON.parse(up.received[1]!.text)).toEqual(BODY) // b has no model of its own: the client's
  })

  it('classifies rate limits and a prompt that is too long as Anthropic words them', async () => {
    up.script.a = { status: 429, json: anthropicError('rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit') }
    up.script.b = { status: 400, json: anthropicError('invalid_request_error', 'prompt is too long: 210000 tokens > 200000 maximum') }
    await expect(run(cfg, messages())).rejects.toMatchObject({ status: 400, code: 'context_length_exceeded' })
    expect(up.received.map((r) => r.backend)).toEqual(['a', 'b'])
  })

  it('a 400 about the request itself goes back without trying another backend', async () => {
    up.script.a = { status: 400, json: anthropicError('invalid_request_error', 'max_tokens: Field required') }
    await expect(run(cfg, messages())).rejects.toMatchObject({ status: 400, message: 'max_tokens: Field required' })
    expect(up.received).toHaveLength(1)
  })
})

describe('a streamed Messages request to an Anthropic backend', () => {
  let cfg: CompiledConfig
  beforeAll(async () => (cfg = await config()))

  it('streams every event through untouched and reads the usage on the way', async () => {
    const events = [START, BLOCK, PING, delta('Hello'), delta(' there'), ...END]
    up.script.a = { events }
    const answer = await run(cfg, messages(true))
    if (answer.kind !== 'stream') throw new Error('expected a stream')
    expect(answer.native).toBe(true)
    expect(await text(answer.body)).toBe(events.join(''))
    expect(await answer.done).toMatchObject({ usage: { prompt_tokens: 135, completion_tokens: 15, prompt_tokens_details: { cached_tokens: 100 }, cache_creation_input_tokens: 10 } })
    expect((await answer.done).error).toBeUndefined()
    expect(up.received[0]!.headers.accept).toBe('text/event-stream')
  })

  it('an overloaded error event before any content fails over; the client sees only the second backend', async () => {
    up.script.a = { events: [START, BLOCK, PING, errorEvent('overloaded_error', 'Overloaded')] }
    up.script.b = { events: [START, BLOCK, delta('from b'), ...END] }
    const answer = await run(cfg, messages(true))
    if (answer.kind !== 'stream') throw new Error('expected a stream')
    expect(answer.backend.name).toBe('b')
    expect(answer.failures[0]).toMatchObject({ backend: 'a', cls: 'server' })
    expect(await text(answer.body)).toContain('from b')
  })

  it('a stream that ends before any content fails over too', async () => {
    up.script.a = { events: [START, BLOCK, PING] }
    up.script.b = { events: [START, BLOCK, delta('from b'), ...END] }
    const answer = await run(cfg, messages(true))
    expect(answer.backend.name).toBe('b')
    expect(answer.failures[0]).toMatchObject({ backend: 'a', cls: 'bad_response' })
  })

  it("an error after content reaches the client as Anthropic's error event, less our key, and the outcome says so", async () => {
    up.script.a = { events: [START, BLOCK, delta('Hel'), errorEvent('api_error', `Internal error (key ${KEY})`)] }
    up.script.b = { events: [START, BLOCK, delta('from b'), ...END] }
    const answer = await run(cfg, messages(true))
    if (answer.kind !== 'stream') throw new Error('expected a stream')
    const out = await text(answer.body)
    expect(out).toContain('Hel')
    expect(out.endsWith(errorEvent('api_error', 'Internal error (key ***)'))).toBe(true)
    expect(out).not.toContain(KEY)
    expect((await answer.done).error).toBe('Internal error (key ***)')
    expect(up.received.map((r) => r.backend)).toEqual(['a'])
  })

  it('a stream cut after content ends in an error event, never a clean end', async () => {
    up.script.a = { events: [START, BLOCK, delta('Hel')] }
    const answer = await run(cfg, messages(true))
    if (answer.kind !== 'stream') throw new Error('expected a stream')
    const out = await text(answer.body)
    expect(out).not.toContain('message_stop')
    const last = out.trim().split('\n\n').at(-1)!
    expect(last.split('\n')[0]).toBe('event: error')
    expect(JSON.parse(last.split('\n')[1]!.slice(6))).toEqual({ type: 'error', error: { type: 'api_error', message: 'The upstream stream ended before the response was complete' } })
    expect((await answer.done).error).toBeDefined()
  })

  it('a stream that stalls after content is cut by the idle timeout and ends in an error event', async () => {
    up.script.a = { events: [START, BLOCK, delta('Hel')], hang: true }
    const answer = await run(await config('  fallback: { backends: [b], timeoutSeconds: 0.2 }\n'), messages(true))
    if (answer.kind !== 'stream') throw new Error('expected a stream')
    const closed = up.closed('a')
    const out = await text(answer.body)
    const last = out.trim().split('\n\n').at(-1)!
    expect(last.split('\n')[0]).toBe('event: error')
    expect(JSON.parse(last.split('\n')[1]!.slice(6))).toMatchObject({ type: 'error', error: { type: 'api_error', message: expect.stringContaining('The upstream stream failed') } })
    expect((await answer.done).error).toBeDefined()
    await closed // the stalled upstream request is let go
  })

  it("the client going away cancels the upstream request", async () => {
    up.script.a = { events: [START, BLOCK, delta('Hel')], hang: true }
    const client = new AbortController()
    const answer = await run(cfg, { ...messages(true), signal: client.signal })
    if (answer.kind !== 'stream') throw new Error('expected a stream')
    const reader = webStream(answer.body).getReader()
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('message_start')
    const closed = up.closed('a')
    await reader.cancel()
    client.abort()
    await closed
    expect(await answer.done).toMatchObject({ cancelled: true })
  })
})

describe('a Messages request on a backend that does not speak it', () => {
  it('gets the internal form (translated by the provider), and the answer is not native', async () => {
    const cfg = await configWith(`{ url: "${up.url}/a/v1", provider: openai }`, `{ url: "${up.url}/b", provider: anthropic }`)
    up.script.a = { status: 200, json: { id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }] } }
    const answer = await run(cfg, messages())
    expect(up.received[0]!.path).toBe('/v1/chat/completions')
    expect(JSON.parse(up.received[0]!.text)).toEqual({ model: 'client-model', messages: [{ role: 'user', content: 'hi' }] })
    expect(answer.native).toBeFalsy()
  })
})
