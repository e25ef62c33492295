// The strongest check of the translator: the real @anthropic-ai/sdk reading
// what it produces. A tiny server plays the gateway: it parses with the
// ingress, answers from a fake internal (OpenAI chat) backend, and sends the
// translated Message, event stream or error.
import Anthropic from '@anthropic-ai/sdk'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { GatewayError } from '../../../src/api/errors.ts'
import { readText, startServer, type TestServer } from '../../helpers/server.ts'
import { chunk, ctx, ingress, internalStream, usageChunk } from './helpers.ts'
import { webStream } from '../../../src/providers/types.ts'

const usage = { prompt_tokens: 50, completion_tokens: 12, total_tokens: 62, prompt_tokens_details: { cached_tokens: 20 } }

/** What the fake backend answers, by model name: chat chunks for a stream, a completion otherwise. */
const scenarios: Record<string, { chunks: Array<Record<string, unknown> | string>; message: Record<string, unknown>; finish: string }> = {
  text: {
    chunks: [chunk({ role: 'assistant', content: '' }), chunk({ content: 'Bonjour' }), chunk({ content: ' !' }), chunk({}, 'stop'), usageChunk(usage), '[DONE]'],
    message: { role: 'assistant', content: 'Bonjour !' },
    finish: 'stop',
  },
  tools: {
    chunks: [
      chunk({ role: 'assistant', content: 'Checking both.' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_A', type: 'function', function: { name: 'get_weather', arguments: '{"ci' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_B', type: 'function', function: { name: 'get_weather', arguments: '{"city":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: 'ty":"Paris"}' } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: '"Rome"}' } }] }),
      chunk({}, 'tool_calls'),
      usageChunk(usage),
      '[DONE]',
    ],
    message: {
      role: 'assistant',
      content: 'Checking both.',
      tool_calls: [
        { id: 'call_A', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: 'call_B', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
      ],
    },
    finish: 'tool_calls',
  },
  midstream: {
    chunks: [chunk({ role: 'assistant', content: 'Half' }), { error: { message: 'backend "a" failed: connection reset', type: 'upstream_error', param: null, code: 'upstream_stream_interrupted' } }],
    message: {},
    finish: 'stop',
  },
}

const refusals: Record<string, GatewayError> = {
  'limited': new GatewayError(429, 'Rate limit reached for key "k"', 'rate_limit_error', 'rate_limit_exceeded', null, { 'retry-after': '30' }),
  'no-backend': new GatewayError(503, 'No backend is available for this route', 'upstream_error', 'no_backend_available'),
  'denied': new GatewayError(403, "The API key 'k' is not allowed to use the model 'denied'.", 'permission_error', 'model_not_allowed'),
}

let server: TestServer
let seen: { authorization?: string; body?: any } = {}

const sendWeb = async (web: Response, res: import('node:http').ServerResponse) => {
  res.writeHead(web.status, Object.fromEntries(web.headers))
  if (!web.body) return res.end()
  for await (const b of web.body as unknown as AsyncIterable<Uint8Array>) res.write(b)
  res.end()
}

beforeAll(async () => {
  server = await startServer(async (req, res) => {
    const text = await readText(req)
    const json = JSON.parse(text)
    seen = { authorization: req.headers.authorization, body: json }
    const headers = { 'x-request-id': 'req-sdk-1' }
    try {
      const r = await ingress.parse(json, text, new Request('http://gw/v1/messages', { method: 'POST', body: text }), ctx)
      if (refusals[r.model]) throw refusals[r.model]
      const s = scenarios[r.model]!
      if (r.stream) return sendWeb(new Response(webStream(ingress.stream(internalStream(s.chunks), r, ctx)), { headers: { 'content-type': 'text/event-stream', ...headers } }), res)
      const completion = { id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, message: s.message, finish_reason: s.finish }], usage }
      return sendWeb(Response.json(await ingress.respond(completion, r, ctx), { headers }), res)
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err
      return sendWeb(ingress.error(err, headers), res)
    }
  })
})
afterAll(() => server.close())

const client = () => new Anthropic({ apiKey: 'test-gw-test', baseURL: server.url, maxRetries: 0 })
const weather = { name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } }

it('messages.create: text, stop_reason and usage as the SDK types them', async () => {
  const m = await client().messages.create({ model: 'text', max_tokens: 64, messages: [{ role: 'user', content: 'Say hello in French' }] })
  expect(seen.authorization).toBe('Bearer test-gw-test')
  expect(m.content).toEqual([{ type: 'text', text: 'Bonjour !' }])
  expect(m.stop_reason).toBe('end_turn')
  expect(m.usage).toMatchObject({ input_tokens: 30, cache_read_input_tokens: 20, output_tokens: 12 })
})

it('messages.stream: the text arrives in pieces and the final message has stop_reason and usage', async () => {
  const pieces: string[] = []
  const stream = client().messages.stream({ model: 'text', max_tokens: 64, messages: [{ role: 'user', content: 'Say hello in French' }] })
  stream.on('text', (t) => pieces.push(t))
  const m = await stream.finalMessage()
  expect(pieces).toEqual(['Bonjour', ' !'])
  expect(m.content).toMatchObject([{ type: 'text', text: 'Bonjour !' }])
  expect(m.stop_reason).toBe('end_turn')
  expect(m.usage).toMatchObject({ input_tokens: 30, cache_read_input_tokens: 20, output_tokens: 12 })
})

it('messages.stream with two interleaved tool calls: the SDK assembles each tool input', async () => {
  const stream = client().messages.stream({ model: 'tools', max_tokens: 64, tools: [weather], messages: [{ role: 'user', content: 'Paris and Rome?' }] })
  const m = await stream.finalMessage()
  expect(m.stop_reason).toBe('tool_use')
  expect(m.content.map((b) => (b.type === 'tool_use' ? [b.id, b.name, b.input] : b.type === 'text' ? b.text : b.type))).toEqual([
    'Checking both.',
    ['call_A', 'get_weather', { city: 'Paris' }],
    ['call_B', 'get_weather', { city: 'Rome' }],
  ])
  expect(seen.body.tools).toEqual([weather])
})

it('messages.create with tools: tool_use blocks the client can answer with tool_result', async () => {
  const m = await client().messages.create({ model: 'tools', max_tokens: 64, tools: [weather], messages: [{ role: 'user', content: 'Paris and Rome?' }] })
  expect(m.stop_reason).toBe('tool_use')
  const uses = m.content.filter((b) => b.type === 'tool_use')
  expect(uses.map((b) => b.input)).toEqual([{ city: 'Paris' }, { city: 'Rome' }])
})

it('a failure after the first text reaches the SDK stream as an APIError, not a clean end', async () => {
  const stream = client().messages.stream({ model: 'midstream', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] })
  const err = await stream.finalMessage().then(() => null, (e) => e)
  expect(err).toBeInstanceOf(Anthropic.APIError)
  expect(err.error).toMatchObject({ type: 'error', error: { type: 'api_error', message: 'backend "a" failed: connection reset' } })
})

it('refusals: the SDK raises its APIError subclass for each status, with the request id and retry-after', async () => {
  const call = (model: string) => client().messages.create({ model, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e) => e)
  const limited = await call('limited')
  expect(limited).toBeInstanceOf(Anthropic.RateLimitError)
  expect(limited.status).toBe(429)
  expect(limited.headers.get('retry-after')).toBe('30')
  expect(limited.requestID).toBe('req-sdk-1')
  expect(limited.error).toEqual({ type: 'error', error: { type: 'rate_limit_error', message: 'Rate limit reached for key "k"' }, request_id: 'req-sdk-1' })
  const overloaded = await call('no-backend')
  expect(overloaded).toBeInstanceOf(Anthropic.InternalServerError)
  expect(overloaded.error.error.type).toBe('overloaded_error')
  expect(await call('denied')).toBeInstanceOf(Anthropic.PermissionDeniedError)
})

it('a request without max_tokens is a BadRequestError with Anthropic\'s message', async () => {
  const err = await client()
    .messages.create({ model: 'text', messages: [{ role: 'user', content: 'hi' }] } as never)
    .then(() => null, (e) => e)
  expect(err).toBeInstanceOf(Anthropic.BadRequestError)
  expect(err.error.error).toEqual({ type: 'invalid_request_error', message: 'max_tokens: Field required' })
})
