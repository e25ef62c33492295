// The official openai SDK against a running Kortex Node server, which
// proxies to test upstreams speaking OpenAI's wire format.
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startOpenAIUpstream, type OpenAIUpstream } from '../upstreams/openai.ts'
import { startTestKortex, eventually, type TestKortex } from '../helpers/kortex.ts'

const PROVIDER_KEY = 'test-upstream-secret-0123456789abcdef'
const GATEWAY_KEY = 'kx-test-key-alice-0001'

let up: OpenAIUpstream
let k: TestKortex
let client: OpenAI

const backend = (name: string, url: string, extra = '') => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: ${name} }
spec:
  type: external
  external: { url: ${url}, provider: openai, apiKeySecret: { name: test-openai, key: api-key } }
  timeoutSeconds: 2
${extra}`

const route = (name: string, models: string, dflt: string, fallback: string[] = []) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: ${name} }
spec:
  models: [${models}]
  defaultBackend: { name: ${dflt} }
  fallback: { backends: [${fallback.join(', ')}], timeoutSeconds: 1 }
`

beforeAll(async () => {
  process.env.TEST_OPENAI_API_KEY = PROVIDER_KEY
  up = await startOpenAIUpstream()
  const modes = ['ok', '500', '503', '429', '400', '401', 'context', 'hang', 'reset', 'html', 'badjson', 'cut', 'stall', 'early-error', 'slow']
  const yaml = [
    `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: test }
spec:
  maxBodyBytes: 65536
  auth:
    keys:
      - { name: alice, key: ${GATEWAY_KEY}, team: ml }
      - { name: bob, keySha256: ${await sha256('kx-bob-only-gpt')}, models: ["gpt-4o*"] }`,
    ...modes.map((m) => backend(`b-${m}`, up.base(m))),
    ...modes.map((m) => route(`r-${m}`, `m-${m}`, `b-${m}`)),
    route('failover', 'gpt-4o, gpt-4o-mini', 'b-500', ['b-reset', 'b-ok']),
    route('failover-stream', 'm-stream-failover', 'b-early-error', ['b-ok']),
    route('no-failover-4xx', 'm-400-then-ok', 'b-400', ['b-ok']),
  ].join('\n')
  k = await startTestKortex(yaml)
  client = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: GATEWAY_KEY, maxRetries: 0 })
})

afterAll(async () => {
  await k?.close()
  await up?.close()
})

async function sha256(s: string) {
  const { createHash } = await import('node:crypto')
  return createHash('sha256').update(s).digest('hex')
}

const lastUpstream = () => up.requests.at(-1)!

describe('chat completions', () => {
  it('non-streaming: the answer comes back as OpenAI sent it, with the backend named', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'm-ok', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse()
    expect(data.choices[0]!.message.content).toBe('Hello from ok')
    expect(data.usage?.total_tokens).toBe(21)
    expect(response.headers.get('x-kortex-backend')).toBe('b-ok')
    expect(response.headers.get('x-kortex-attempts')).toBe('1')
    expect(response.headers.get('x-request-id')).toBeTruthy()
  })

  it('passes every OpenAI field through untouched and uses the provider key, not the client key', async () => {
    const req = {
      model: 'm-ok',
      messages: [{ role: 'user' as const, content: 'weather?' }],
      tools: [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      tool_choice: 'auto' as const,
      response_format: { type: 'json_object' as const },
      n: 2,
      stop: ['\n\n'],
      seed: 42,
      logprobs: true,
      top_logprobs: 3,
      temperature: 0.3,
      max_completion_tokens: 50,
      metadata: { experiment: 'x' },
      some_future_field: { nested: [1, 2] },
    }
    await client.chat.completions.create(req as never)
    const got = lastUpstream()
    expect(got.body).toEqual(req)
    expect(got.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`)
    expect(JSON.stringify(got.headers)).not.toContain(GATEWAY_KEY)
  })

  it('sends the body upstream byte for byte as the client wrote it, when the gateway changes nothing in it', async () => {
    // Spacing, key order, 1.0, escapes and a duplicate key: what JSON.stringify of the parsed body would not reproduce.
    const text = '{ "model" : "m-ok",\n  "messages": [{"role": "user", "content": "caf\\u00e9 \\ud83d\\ude00"}],\n  "temperature": 1.0, "x_vendor": {"a": 1e2}, "x_vendor": {"a": 100} }'
    const res = await fetch(`${k.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${GATEWAY_KEY}`, 'content-type': 'application/json' }, body: text })
    expect(res.status).toBe(200)
    expect(lastUpstream().text).toBe(text)
  })

  it('streams chunks with the SDK and strips the usage chunk the client did not ask for', async () => {
    const stream = await client.chat.completions.create({ model: 'm-ok', stream: true, messages: [{ role: 'user', content: 'hi' }] })
    let text = ''
    const chunks = []
    for await (const c of stream) {
      chunks.push(c)
      text += c.choices[0]?.delta.content ?? ''
    }
    expect(text).toBe('Hello from ok')
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop')
    expect(chunks.some((c) => c.usage)).toBe(false)
    // The gateway asked the upstream for usage so it can count the call.
    expect(lastUpstream().body.stream_options).toEqual({ include_usage: true })
    await eventually(() => k.records.some((r) => r.stream === true && (r.usage as { total_tokens?: number })?.total_tokens === 12))
  })

  it('keeps the usage chunk when the client asks for it', async () => {
    const stream = await client.chat.completions.create({ model: 'm-ok', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] })
    const chunks = []
    for await (const c of stream) chunks.push(c)
    expect(chunks.at(-1)!.usage).toEqual({ prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 })
  })

  it('a stream that dies after content reaches the SDK as an error, not a clean end', async () => {
    const stream = await client.chat.completions.create({ model: 'm-cut', stream: true, messages: [{ role: 'user', content: 'hi' }] })
    let text = ''
    await expect(
      (async () => {
        for await (const c of stream) text += c.choices[0]?.delta.content ?? ''
      })(),
    ).rejects.toThrow(/upstream stream/i)
    expect(text).toBe('Hello from')
  })

  it('a stream that stalls after content ends with a timeout error event and the upstream is dropped', async () => {
    const stream = await client.chat.completions.create({ model: 'm-stall', stream: true, messages: [{ role: 'user', content: 'hi' }] })
    let text = ''
    const err = await (async () => {
      for await (const c of stream) text += c.choices[0]?.delta.content ?? ''
    })().catch((e) => e)
    expect(err).toBeInstanceOf(OpenAI.APIError)
    expect(err.message).toMatch(/no data for 1000 ms/)
    expect(text).toBe('Hello')
    await eventually(() => up.aborted.some((p) => p.includes('/mode/stall/')))
  })

  it('a client that disconnects mid-stream aborts the upstream request', async () => {
    const ac = new AbortController()
    const stream = await client.chat.completions.create({ model: 'm-slow', stream: true, messages: [{ role: 'user', content: 'hi' }] }, { signal: ac.signal })
    const it = stream[Symbol.asyncIterator]()
    await it.next()
    await it.next()
    ac.abort()
    await eventually(() => up.aborted.some((p) => p.includes('/mode/slow/')))
  })
})

describe('failover', () => {
  it('moves past a 500 and a reset to a healthy backend', async () => {
    const { data, response } = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).withResponse()
    expect(data.choices[0]!.message.content).toBe('Hello from ok')
    expect(response.headers.get('x-kortex-backend')).toBe('b-ok')
    expect(response.headers.get('x-kortex-attempts')).toBe('3')
  })

  it('a stream whose upstream fails before any content fails over, and the client sees one clean answer', async () => {
    const stream = await client.chat.completions.create({ model: 'm-stream-failover', stream: true, messages: [{ role: 'user', content: 'hi' }] })
    let text = ''
    for await (const c of stream) text += c.choices[0]?.delta.content ?? ''
    expect(text).toBe('Hello from ok')
  })

  it("a client's own mistake (400) is returned, not retried elsewhere", async () => {
    const before = up.requests.length
    const err = await client.chat.completions.create({ model: 'm-400-then-ok', messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e)
    expect(err).toBeInstanceOf(OpenAI.BadRequestError)
    expect(err.param).toBe('temperature')
    expect(up.requests.length - before).toBe(1)
  })
})

describe('route selection', () => {
  it('X-Route names a route whatever the model; an unknown route is a 404', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'anything-at-all', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'X-Route': 'r-ok' } })
      .withResponse()
    expect(data.choices[0]!.message.content).toBe('Hello from ok')
    expect(response.headers.get('x-kortex-route')).toBe('r-ok')
    const err = await client.chat.completions.create({ model: 'm-ok', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'X-Route': 'nope', 'X-Namespace': 'default' } }).catch((e) => e)
    expect(err).toBeInstanceOf(OpenAI.NotFoundError)
    expect(err.code).toBe('route_not_found')
  })
})

describe('other endpoints', () => {
  it('completions, streaming and not', async () => {
    const c = await client.completions.create({ model: 'm-ok', prompt: 'Say this is a test' })
    expect(c.choices[0]!.text).toBe('\n\nThis is indeed a test')
    const s = await client.completions.create({ model: 'm-ok', prompt: 'x', stream: true })
    let text = ''
    for await (const ch of s) text += ch.choices[0]?.text ?? ''
    expect(text).toBe('\n\nThis is a test')
  })

  it('embeddings: the SDK asks for base64 and decodes it', async () => {
    const e = await client.embeddings.create({ model: 'm-ok', input: ['a', 'b'] })
    expect(e.data).toHaveLength(2)
    expect(e.data[0]!.embedding[0]).toBeCloseTo(0.0023064255, 6)
    expect(lastUpstream().body.encoding_format).toBe('base64')
  })

  it('models: the configured ones, in OpenAI list format, filtered for the key', async () => {
    const ids = []
    for await (const m of client.models.list()) ids.push(m.id)
    expect(ids).toContain('m-ok')
    expect(ids).toContain('gpt-4o')
    const bob = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: 'kx-bob-only-gpt', maxRetries: 0 })
    const bobs = []
    for await (const m of bob.models.list()) bobs.push(m.id)
    expect(bobs.sort()).toEqual(['gpt-4o', 'gpt-4o-mini'])
    const one = await client.models.retrieve('m-ok')
    expect(one.object).toBe('model')
  })

  it('healthz and readyz', async () => {
    expect((await fetch(`${k.url}/healthz`)).status).toBe(200)
    expect(await (await fetch(`${k.url}/readyz`)).json()).toEqual({ status: 'ready' })
  })
})

describe('keys', () => {
  it('401 without a key, 401 with a wrong one, x-api-key works, 403 for a model the key may not use', async () => {
    const none = await fetch(`${k.url}/v1/chat/completions`, { method: 'POST', body: '{}' })
    expect(none.status).toBe(401)
    expect((await none.json()).error.code).toBe('missing_api_key')
    const wrong = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: 'kx-nope-nope', maxRetries: 0 })
    const e = await wrong.chat.completions.create({ model: 'm-ok', messages: [{ role: 'user', content: 'x' }] }).catch((x) => x)
    expect(e).toBeInstanceOf(OpenAI.AuthenticationError)
    expect(JSON.stringify(e.error)).not.toContain('kx-nope-nope')
    const viaHeader = await fetch(`${k.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'x-api-key': GATEWAY_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm-ok', messages: [{ role: 'user', content: 'x' }] }),
    })
    expect(viaHeader.status).toBe(200)
    const bob = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: 'kx-bob-only-gpt', maxRetries: 0 })
    const denied = await bob.chat.completions.create({ model: 'm-ok', messages: [{ role: 'user', content: 'x' }] }).catch((x) => x)
    expect(denied).toBeInstanceOf(OpenAI.PermissionDeniedError)
    expect(denied.code).toBe('model_not_allowed')
  })
})

describe('bad input and broken upstreams get the documented error', () => {
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${k.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${GATEWAY_KEY}`, 'content-type': 'application/json', ...headers }, body })

  it.each([
    ['malformed JSON', '{"model": "m-ok", "messages": [', 400, 'invalid_json', null],
    ['no messages', '{"model": "m-ok"}', 400, 'invalid_value', 'messages'],
    ['empty messages', '{"model": "m-ok", "messages": []}', 400, 'invalid_value', 'messages'],
    ['wrong type', '{"model": "m-ok", "messages": [{"role":"user","content":"x"}], "temperature": "hot"}', 400, 'invalid_value', 'temperature'],
    ['wrong nested type', '{"model": "m-ok", "messages": [{"role": 5}]}', 400, 'invalid_value', 'messages[0].role'],
    ['unknown model', '{"model": "no-such-model", "messages": [{"role":"user","content":"x"}]}', 404, 'model_not_found', 'model'],
  ])('%s', async (_name, body, status, code, param) => {
    const res = await post(body)
    expect(res.status).toBe(status)
    const j = await res.json()
    expect(j.error.code).toBe(code)
    expect(j.error.param).toBe(param)
    expect(typeof j.error.message).toBe('string')
    expect(j.error.type).toBe(status === 404 ? 'invalid_request_error' : 'invalid_request_error')
  })

  it('a wrong type names the field and what it should be', async () => {
    const j = await (await post('{"model": "m-ok", "messages": [{"role":"user","content":"x"}], "max_tokens": "ten"}')).json()
    expect(j.error.message).toMatch(/'max_tokens' must be (number|int)/)
  })

  it('a body over the configured limit gets 413, declared or chunked', async () => {
    const big = JSON.stringify({ model: 'm-ok', messages: [{ role: 'user', content: 'x'.repeat(70_000) }] })
    const res = await post(big)
    expect(res.status).toBe(413)
    expect((await res.json()).error.code).toBe('request_too_large')
    const chunked = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(big))
        c.close()
      },
    })
    const res2 = await fetch(`${k.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${GATEWAY_KEY}` }, body: chunked, duplex: 'half' } as RequestInit)
    expect(res2.status).toBe(413)
  })

  it.each([
    ['m-hang', 504, 'upstream_timeout'],
    ['m-reset', 502, 'upstream_connection_failed'],
    ['m-html', 502, 'upstream_bad_response'],
    ['m-badjson', 502, 'upstream_bad_response'],
    ['m-500', 502, 'upstream_server_error'],
    ['m-401', 502, 'upstream_auth_failed'],
    ['m-429', 429, 'upstream_rate_limited'],
    ['m-context', 400, 'context_length_exceeded'],
  ])('upstream %s -> %i %s', async (model, status, code) => {
    const res = await post(JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }))
    expect(res.status).toBe(status)
    const j = await res.json()
    expect(j.error.code).toBe(code)
    // Neither key ever appears in what the client sees.
    expect(JSON.stringify(j)).not.toContain(PROVIDER_KEY)
    expect(JSON.stringify(j)).not.toContain(GATEWAY_KEY)
    if (status === 429) expect(res.headers.get('retry-after')).toBe('7')
  })

  it('no key reaches the log', async () => {
    expect(k.logText()).not.toContain(PROVIDER_KEY)
    expect(k.logText()).not.toContain(GATEWAY_KEY)
  })

  it('unknown paths are OpenAI-style 404s', async () => {
    const res = await fetch(`${k.url}/v1/nope`)
    expect(res.status).toBe(404)
    expect((await res.json()).error.type).toBe('invalid_request_error')
  })
})
