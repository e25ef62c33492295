// The Anthropic provider: OpenAI chat requests out, Anthropic Messages on the
// wire, OpenAI responses and chunk streams back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Backend } from '../../src/config/compile.ts'
import { anthropic } from '../../src/providers/anthropic/index.ts'
import { DEFAULT_MAX_TOKENS, toAnthropicRequest } from '../../src/providers/anthropic/request.ts'
import { toOpenAIResponse } from '../../src/providers/anthropic/response.ts'
import { StreamTranslator } from '../../src/providers/anthropic/stream.ts'
import { UpstreamError } from '../../src/providers/errors.ts'
import type { ProviderResult } from '../../src/providers/types.ts'
import { openStream } from '../../src/resilience/stream.ts'
import { MESSAGE_ID, TOOL_USE_ID, WEATHER_INPUT, startAnthropicUpstream, type AnthropicUpstream } from '../upstreams/anthropic.ts'
import { webStream } from '../../src/providers/types.ts'

const KEY = 'test-anthropic-key-0123456789'
const MODEL = 'claude-sonnet-4-5-20250929'

function backend(baseUrl: string, extra: Partial<Backend> = {}): Backend {
  return {
    name: 'claude',
    namespace: 'default',
    provider: 'anthropic',
    baseUrl,
    rootUrl: baseUrl,
    apiKey: KEY,
    headers: {},
    timeoutMs: 30_000,
    maxConcurrency: 10,
    priority: 0,
    spec: {} as Backend['spec'],
    ...extra,
  }
}

const hello = { model: MODEL, messages: [{ role: 'user', content: 'Hello' }] }

function send(b: Backend, body: Record<string, unknown>, stream = false, signal = new AbortController().signal): Promise<ProviderResult> {
  return anthropic.send({ backend: b, op: 'chat', body: stream ? { ...body, stream: true } : body, stream, signal, fetch: globalThis.fetch, requestId: 'req-1' })
}

async function failure(p: Promise<unknown>): Promise<UpstreamError> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(UpstreamError)
    return err as UpstreamError
  }
  throw new Error('expected a failure')
}

/** The data of every SSE event in a stream, JSON-parsed except [DONE]. */
async function events(result: ProviderResult): Promise<any[]> {
  expect(result.kind).toBe('stream')
  const text = await new Response((result as { body: ReadableStream<Uint8Array> }).body).text()
  expect(text.endsWith('\n\n')).toBe(true)
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((block) => {
      expect(block.startsWith('data: ')).toBe(true)
      const data = block.slice(6)
      return data === '[DONE]' ? data : JSON.parse(data)
    })
}

const chunk = (delta: object, finish: string | null = null) => ({
  id: MESSAGE_ID,
  object: 'chat.completion.chunk',
  created: expect.any(Number),
  model: MODEL,
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
})

const USAGE = { prompt_tokens: 135, completion_tokens: 15, total_tokens: 150, prompt_tokens_details: { cached_tokens: 100 }, cache_read_input_tokens: 100, cache_creation_input_tokens: 10 }

describe('request translation', () => {
  it('lifts system and developer messages into system and defaults max_tokens', () => {
    const r = toAnthropicRequest({
      model: MODEL,
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        { role: 'user', content: 'Hi' },
      ],
    })
    expect(r).toEqual({ model: MODEL, system: 'You are terse.\n\nAnswer in French.', max_tokens: DEFAULT_MAX_TOKENS, messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }] })
    expect(DEFAULT_MAX_TOKENS).toBe(4096)
  })

  it('takes max_completion_tokens before max_tokens; maps stop, temperature, top_p, user, stream', () => {
    const base = { model: MODEL, messages: [{ role: 'user', content: 'Hi' }] }
    expect(toAnthropicRequest({ ...base, max_tokens: 100, max_completion_tokens: 200 }).max_tokens).toBe(200)
    expect(toAnthropicRequest({ ...base, max_tokens: 100 }).max_tokens).toBe(100)
    const r = toAnthropicRequest({ ...base, stop: 'END', temperature: 1.7, top_p: 0.9, user: 'user-42', stream: true })
    expect(r).toMatchObject({ stop_sequences: ['END'], temperature: 1, top_p: 0.9, metadata: { user_id: 'user-42' }, stream: true })
    expect(toAnthropicRequest({ ...base, stop: ['a', 'b'], temperature: 0.3 })).toMatchObject({ stop_sequences: ['a', 'b'], temperature: 0.3 })
    const plain = toAnthropicRequest({ ...base, stop: null, stream: true }, false)
    expect(plain).not.toHaveProperty('stop_sequences')
    expect(plain).not.toHaveProperty('stream')
    expect(plain).not.toHaveProperty('temperature')
  })

  it('maps function tools and every tool_choice', () => {
    const tools = [
      { type: 'function', function: { name: 'get_weather', description: 'Weather for a place', parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } } },
      { type: 'function', function: { name: 'now' } },
    ]
    const base = { model: MODEL, messages: [{ role: 'user', content: 'Hi' }], tools }
    const r = toAnthropicRequest(base)
    expect(r.tools).toEqual([
      { name: 'get_weather', description: 'Weather for a place', input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } },
      { name: 'now', input_schema: { type: 'object', properties: {} } },
    ])
    expect(r).not.toHaveProperty('tool_choice')
    const choice = (tool_choice: unknown, extra: object = {}) => toAnthropicRequest({ ...base, tool_choice, ...extra }).tool_choice
    expect(choice('auto')).toEqual({ type: 'auto' })
    expect(choice('none')).toEqual({ type: 'none' })
    expect(choice('required')).toEqual({ type: 'any' })
    expect(choice({ type: 'function', function: { name: 'now' } })).toEqual({ type: 'tool', name: 'now' })
    expect(choice(undefined, { parallel_tool_calls: false })).toEqual({ type: 'auto', disable_parallel_tool_use: true })
    expect(choice('required', { parallel_tool_calls: false })).toEqual({ type: 'any', disable_parallel_tool_use: true })
    expect(choice('none', { parallel_tool_calls: false })).toEqual({ type: 'none' })
    expect(choice('auto', { parallel_tool_calls: true })).toEqual({ type: 'auto' })
    // No tools: no tool_choice either (Anthropic rejects one without tools).
    expect(toAnthropicRequest({ model: MODEL, messages: base.messages, tool_choice: 'auto' })).not.toHaveProperty('tool_choice')
    expect(() => toAnthropicRequest({ ...base, tools: [{ type: 'code_interpreter' }] })).toThrow(/only function tools/)
  })

  it('turns tool calls into tool_use and tool messages into one user turn of tool_result blocks', () => {
    const r = toAnthropicRequest({
      model: MODEL,
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: 'Checking both.',
          tool_calls: [
            { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } },
            { id: 'toolu_2', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Rome"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18°C' },
        { role: 'tool', tool_call_id: 'toolu_2', content: [{ type: 'text', text: '24°C' }] },
        { role: 'user', content: 'Which is warmer?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'toolu_3', type: 'function', function: { name: 'now', arguments: '' } }] },
      ],
    })
    expect(r.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking both.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { location: 'Paris' } },
          { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: { location: 'Rome' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '18°C' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: '24°C' }] },
          { type: 'text', text: 'Which is warmer?' },
        ],
      },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_3', name: 'now', input: {} }] },
    ])
    expect(() => toAnthropicRequest({ model: MODEL, messages: [{ role: 'assistant', tool_calls: [{ id: 'x', type: 'function', function: { name: 'f', arguments: '{oops' } }] }] })).toThrow(/not valid JSON/)
  })

  it('merges consecutive messages of one role and drops empty text', () => {
    const r = toAnthropicRequest({
      model: MODEL,
      messages: [
        { role: 'user', content: 'one' },
        { role: 'system', content: 'late system' },
        { role: 'user', content: [{ type: 'text', text: 'two' }, { type: 'text', text: '' }] },
        { role: 'assistant', content: 'a' },
        { role: 'assistant', content: [{ type: 'text', text: 'b' }] },
      ],
    })
    expect(r.system).toBe('late system')
    expect(r.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'one' }, { type: 'text', text: 'two' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
    ])
  })

  it('maps data: URLs to base64 image sources and http(s) URLs to url sources', () => {
    const r = toAnthropicRequest({
      model: MODEL,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'https://upload.wikimedia.org/cat.jpg', detail: 'high' } },
          ],
        },
      ],
    })
    expect(r.messages[0]!.content).toEqual([
      { type: 'text', text: 'What is in these?' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      { type: 'image', source: { type: 'url', url: 'https://upload.wikimedia.org/cat.jpg' } },
    ])
    const bad = (url: string) => () => toAnthropicRequest({ model: MODEL, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }] }] })
    expect(bad('ftp://x/cat.png')).toThrow(UpstreamError)
    expect(bad('data:image/png,rawbytes')).toThrow(/base64/)
  })

  it('refuses what Anthropic cannot do as a client error', () => {
    const e = (() => {
      try {
        toAnthropicRequest({ model: MODEL, n: 2, messages: [{ role: 'user', content: 'Hi' }] })
      } catch (err) {
        return err as UpstreamError
      }
    })()
    expect(e).toBeInstanceOf(UpstreamError)
    expect(e!.cls).toBe('bad_request')
    expect(e!.param).toBe('n')
    expect(() => toAnthropicRequest({ model: MODEL, messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] })).toThrow(/input_audio/)
  })
})

describe('response translation', () => {
  it('maps every stop reason', () => {
    const msg = (stop_reason: string) => ({ id: 'msg_1', type: 'message' as const, role: 'assistant' as const, model: MODEL, content: [], stop_reason })
    const fin = (s: string) => (toOpenAIResponse(msg(s), MODEL).choices as any)[0].finish_reason
    expect(['end_turn', 'stop_sequence', 'max_tokens', 'tool_use', 'refusal', 'pause_turn'].map(fin)).toEqual(['stop', 'stop', 'length', 'tool_calls', 'content_filter', 'stop'])
    expect((toOpenAIResponse(msg('end_turn'), MODEL).choices as any)[0].message.content).toBeNull()
  })
})

describe('the provider against an Anthropic upstream', () => {
  let up: AnthropicUpstream
  beforeAll(async () => {
    up = await startAnthropicUpstream()
  })
  afterAll(() => up.close())

  it('serves chat only', () => {
    expect(anthropic.supports('chat')).toBe(true)
    expect(anthropic.supports('completions')).toBe(false)
    expect(anthropic.supports('embeddings')).toBe(false)
  })

  it('posts to /v1/messages with our key and version, and answers a chat.completion', async () => {
    const b = backend(up.base('ok'), { headers: { 'anthropic-beta': 'prompt-caching-2024-07-31' } })
    const r = await send(b, { ...hello, messages: [{ role: 'system', content: 'Be kind.' }, ...hello.messages], max_tokens: 50 })
    expect(up.last!.path).toBe('/mode/ok/v1/messages')
    expect(up.last!.headers['x-api-key']).toBe(KEY)
    expect(up.last!.headers['anthropic-version']).toBe('2023-06-01')
    expect(up.last!.headers['anthropic-beta']).toBe('prompt-caching-2024-07-31')
    expect(up.last!.headers['content-type']).toBe('application/json')
    expect(up.last!.headers.authorization).toBeUndefined()
    expect(up.last!.body).toEqual({ model: MODEL, system: 'Be kind.', max_tokens: 50, messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }] })
    expect(r).toEqual({
      kind: 'json',
      body: {
        id: MESSAGE_ID,
        object: 'chat.completion',
        created: expect.any(Number),
        model: MODEL,
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from ok', refusal: null }, logprobs: null, finish_reason: 'stop' }],
        usage: USAGE,
      },
    })
    expect(Math.abs((r as any).body.created - Date.now() / 1000)).toBeLessThan(5)
  })

  it('a backend header can pin another anthropic-version', async () => {
    await send(backend(up.base('ok'), { headers: { 'Anthropic-Version': '2023-01-01' } }), hello)
    expect(up.last!.headers['anthropic-version']).toBe('2023-01-01')
  })

  it('answers tool_use as tool_calls', async () => {
    const r = await send(backend(up.base('tool')), { ...hello, tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }], tool_choice: 'required' })
    expect(up.last!.body.tool_choice).toEqual({ type: 'any' })
    const choice = (r as any).body.choices[0]
    expect(choice.finish_reason).toBe('tool_calls')
    expect(choice.message).toEqual({
      role: 'assistant',
      content: 'Let me check the weather.',
      refusal: null,
      tool_calls: [{ id: TOOL_USE_ID, type: 'function', function: { name: 'get_weather', arguments: JSON.stringify(WEATHER_INPUT) } }],
    })
    expect(JSON.parse(choice.message.tool_calls[0].function.arguments)).toEqual(WEATHER_INPUT)
  })

  it('streams text as the exact OpenAI chunk sequence, usage chunk and [DONE]', async () => {
    const r = await send(backend(up.base('ok')), hello, true)
    expect(up.last!.body.stream).toBe(true)
    expect(up.last!.headers.accept).toBe('text/event-stream')
    const ev = await events(r)
    expect(ev).toEqual([
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Hello' }),
      chunk({ content: ' from' }),
      chunk({ content: ' ok' }),
      chunk({}, 'stop'),
      { id: MESSAGE_ID, object: 'chat.completion.chunk', created: expect.any(Number), model: MODEL, choices: [], usage: USAGE },
      '[DONE]',
    ])
    expect(new Set(ev.slice(0, -1).map((c) => c.created)).size).toBe(1)
  })

  it('reassembles a stream cut into pieces anywhere, multi-byte characters included', async () => {
    const ev = await events(await send(backend(up.base('fragmented')), hello, true))
    const text = ev.flatMap((c) => (c === '[DONE]' ? [] : c.choices.map((x: any) => x.delta.content ?? ''))).join('')
    expect(text).toBe('Hello from fragmented — ✓ 日本語')
    expect(ev.at(-1)).toBe('[DONE]')
  })

  it('streams a tool call: id and name first, then the arguments in pieces, index counted among tool calls', async () => {
    const ev = await events(await send(backend(up.base('tool')), hello, true))
    expect(ev.slice(0, 4)).toEqual([
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Let me check' }),
      chunk({ content: ' the weather.' }),
      chunk({ tool_calls: [{ index: 0, id: TOOL_USE_ID, type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
    ])
    const argChunks = ev.slice(4, -3)
    expect(argChunks.length).toBe(5) // the empty first partial_json is not sent
    for (const c of argChunks) expect(c.choices[0].delta.tool_calls).toEqual([{ index: 0, function: { arguments: expect.any(String) } }])
    const args = argChunks.map((c) => c.choices[0].delta.tool_calls[0].function.arguments).join('')
    expect(JSON.parse(args)).toEqual(WEATHER_INPUT)
    expect(ev.at(-3)).toEqual(chunk({}, 'tool_calls'))
    expect(ev.at(-2).usage).toMatchObject({ prompt_tokens: 135, completion_tokens: 89, total_tokens: 224 })
    expect(ev.at(-1)).toBe('[DONE]')
  })

  it('turns an error event mid-stream into an OpenAI error event, without [DONE]', async () => {
    const ev = await events(await send(backend(up.base('stream-error')), hello, true))
    expect(ev.slice(0, 3)).toEqual([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hello' }), chunk({ content: ' from' })])
    expect(ev.at(-1)).toEqual({ error: { message: 'Overloaded', type: 'overloaded_error', param: null, code: 'overloaded_error' } })
    expect(ev).not.toContain('[DONE]')
    expect(ev.length).toBe(4)
  })

  it('a body that ends without message_stop ends in an error event, never a clean end', async () => {
    const ev = await events(await send(backend(up.base('cut')), hello, true))
    expect(ev.slice(0, 3)).toEqual([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hello' }), chunk({ content: ' from' })])
    expect(ev.at(-1)).toEqual({ error: { message: expect.stringMatching(/upstream stream ended early/), type: 'upstream_error', param: null, code: 'upstream_stream_truncated' } })
    expect(ev).not.toContain('[DONE]')
    expect(ev.some((c) => c !== '[DONE]' && c.choices?.[0]?.finish_reason)).toBe(false)
  })

  it('a connection that dies mid-stream ends in an error event too', async () => {
    const ev = await events(await send(backend(up.base('reset')), hello, true))
    expect(ev.at(-1)).toEqual({ error: { message: expect.stringMatching(/upstream stream failed/), type: 'upstream_error', param: null, code: 'upstream_stream_interrupted' } })
    expect(ev).not.toContain('[DONE]')
  })

  it('works with the failover core: usage read and stripped, content passed on', async () => {
    const r = await send(backend(up.base('ok')), hello, true)
    const ctl = new AbortController()
    const opened = await openStream((r as { body: ReadableStream<Uint8Array> }).body, { stripUsage: true, idleTimeoutMs: 5000, abort: (x) => ctl.abort(x), signal: ctl.signal })
    const text = await new Response(webStream(opened.body)).text()
    expect(text).toContain('"content":" ok"')
    expect(text).not.toContain('"usage"')
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true)
    expect((await opened.done).usage).toEqual(USAGE)
  })

  it('the core can still fail over on an error event before any content', async () => {
    const t = new StreamTranslator(MODEL)
    const src = [
      'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"usage":{"input_tokens":3,"output_tokens":1}}}\n\n',
      'event: ping\ndata: {"type": "ping"}\n\n',
      'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n',
    ]
    const body = new Response(src.flatMap((s) => t.push(s)).map((b) => new TextDecoder().decode(b)).join('')).body!
    const ctl = new AbortController()
    const err = await failure(openStream(body, { stripUsage: false, idleTimeoutMs: 5000, abort: (x) => ctl.abort(x), signal: ctl.signal }))
    expect(err.cls).toBe('server')
    expect(err.message).toBe('Overloaded')
  })

  it.each([
    ['429', 'rate_limit', 429],
    ['529', 'server', 529],
    ['500', 'server', 500],
    ['400', 'bad_request', 400],
    ['context', 'context_window', 400],
    ['context-limit', 'context_window', 400],
    ['401', 'auth', 401],
  ])('classifies HTTP errors: %s -> %s', async (mode, cls, status) => {
    for (const stream of [false, true]) {
      const e = await failure(send(backend(up.base(mode)), hello, stream))
      expect(e.cls).toBe(cls)
      expect(e.upstreamStatus).toBe(status)
      expect(e.message).not.toContain(KEY)
      if (mode === '429') expect(e.retryAfter).toBe(17)
      if (mode === '429') expect(e.upstreamCode).toBe('rate_limit_error')
      if (mode === '529') expect(e.message).toBe('Overloaded')
      if (mode === '401') expect(e.message).toContain('***')
      if (mode === 'context') expect(e.message).toMatch(/prompt is too long/)
    }
  })

  it('a 2xx that is not a message is a bad response; an error body with 200 is classified', async () => {
    expect((await failure(send(backend(up.base('html')), hello))).cls).toBe('bad_response')
    expect((await failure(send(backend(up.base('badjson')), hello))).cls).toBe('bad_response')
    const e = await failure(send(backend(up.base('error200')), hello))
    expect(e.cls).toBe('server')
    expect(e.message).toBe('Overloaded')
  })

  it('a missing secret is unavailable, without calling the upstream', async () => {
    const n = up.requests.length
    const e = await failure(send(backend(up.base('ok'), { apiKey: undefined, missingSecret: 'ANTHROPIC_CREDENTIALS_API_KEY' }), hello))
    expect(e.cls).toBe('unavailable')
    expect(e.message).toContain('ANTHROPIC_CREDENTIALS_API_KEY')
    expect(up.requests.length).toBe(n)
  })

  it('a bad request is refused before any upstream call', async () => {
    const n = up.requests.length
    const e = await failure(send(backend(up.base('ok')), { model: MODEL, messages: [{ role: 'function', name: 'f', content: 'x' }] }))
    expect(e.cls).toBe('bad_request')
    expect(up.requests.length).toBe(n)
  })

  it('fetch failures: refused connection, aborted attempt', async () => {
    const closed = await startAnthropicUpstream()
    const url = closed.base('ok')
    await closed.close()
    expect((await failure(send(backend(url), hello))).cls).toBe('connection')
    const ctl = new AbortController()
    ctl.abort(new UpstreamError('timeout', 'no answer within 10 ms'))
    const e = await failure(send(backend(up.base('ok')), hello, false, ctl.signal))
    expect(e.cls).toBe('timeout')
  })
})
