// A test upstream that speaks Anthropic's Messages API as api.anthropic.com
// does: POST /v1/messages with x-api-key and anthropic-version, the message
// object, the SSE event sequence (event: lines, ping, input_json_delta split
// across several deltas) and the error bodies {"type":"error","error":{...}}
// with their statuses. The first path segment after /mode/ picks a behaviour:
//   http://host/mode/<mode>/v1/messages   (base(mode) is the backend baseUrl)
// modes: ok (text), tool (text then a tool_use), fragmented (ok, streamed a few
//        bytes per write), 429, 529, 500, 400, 401, context, context-limit,
//        html, badjson, error200 (an error body with status 200),
//        stream-error (an error event after some text), cut (body ends
//        without message_stop), reset (connection dies mid-stream),
//        thinking (a thinking block with its signature, then the text)
// In every answering mode: a request whose last user turn holds a tool_result
// is answered "The tool said: <content>"; one with output_config.format
// json_schema with JSON fitting the schema. Every request is recorded with its
// raw body text and headers, so tests can check what reached the backend.
// POST /v1/messages/count_tokens answers { input_tokens } (countTokens below).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readText, startServer, type TestServer } from '../helpers/server.ts'
import { sampleOf } from './sample.ts'

export interface Recorded {
  path: string
  headers: IncomingMessage['headers']
  body: any
  /** The body's text as it arrived. */
  text?: string
}

export interface AnthropicUpstream extends TestServer {
  requests: Recorded[]
  /** The last request received. */
  readonly last: Recorded | undefined
  /** Base URL (no /v1) for a backend that behaves as `mode`. */
  base(mode?: string): string
}

export const MESSAGE_ID = 'msg_013Zva2CMHLNnXjNJJKqJ2EF'
export const TOOL_USE_ID = 'toolu_01A09q90qw90lq917835lq9'
export const WEATHER_INPUT = { location: 'San Francisco, CA', unit: 'celsius' }
/** The tool input as the stream sends it, in pieces. */
export const WEATHER_JSON_PIECES = ['', '{"location":', ' "San Fra', 'ncisco, CA"', ', "unit": "cel', 'sius"}']

export const THINKING = 'The user greets me. A short greeting back is right.'
export const THINKING_SIGNATURE = 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** What this upstream's count_tokens answers: about one token per four characters of the prompt. */
export function countTokens(body: { system?: unknown; messages?: unknown; tools?: unknown }): number {
  return Math.ceil(JSON.stringify([body.system ?? null, body.messages ?? [], body.tools ?? []]).length / 4)
}

/** The text a test model answers with, given the request. */
function answerText(body: any, mode: string): string {
  const last = body.messages?.at?.(-1)
  const result = Array.isArray(last?.content) ? last.content.find((b: { type: string }) => b.type === 'tool_result') : undefined
  if (last?.role === 'user' && result) {
    const c = result.content
    return `The tool said: ${typeof c === 'string' ? c : (c ?? []).map((b: { text?: string }) => b.text ?? '').join('')}`
  }
  const format = body.output_config?.format
  if (format?.type === 'json_schema') return JSON.stringify(sampleOf(format.schema))
  return `Hello from ${mode}`
}

const USAGE = { input_tokens: 25, cache_creation_input_tokens: 10, cache_read_input_tokens: 100, output_tokens: 15, service_tier: 'standard' }

export function errorBody(type: string, message: string): string {
  return JSON.stringify({ type: 'error', error: { type, message }, request_id: 'req_011CSHoEeqs5C35K2UUqR7Fy' })
}

function message(model: string, content: object[], stop_reason: string) {
  return { id: MESSAGE_ID, type: 'message', role: 'assistant', model, content, stop_reason, stop_sequence: null, usage: USAGE }
}

/** The SSE events of a streamed answer, as [event, data] pairs. */
function streamEvents(model: string, mode: string, answer: string): Array<[string, object]> {
  const ev: Array<[string, object]> = [
    ['message_start', { type: 'message_start', message: { id: MESSAGE_ID, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 25, cache_creation_input_tokens: 10, cache_read_input_tokens: 100, output_tokens: 1, service_tier: 'standard' } } }],
  ]
  let index = 0
  if (mode === 'thinking') {
    ev.push(['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }])
    for (const t of THINKING.match(/\s*\S+/g)!) ev.push(['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: t } }])
    ev.push(['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: THINKING_SIGNATURE } }])
    ev.push(['content_block_stop', { type: 'content_block_stop', index: 0 }])
    index = 1
  }
  ev.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }], ['ping', { type: 'ping' }])
  const text = (t: string) => ev.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: t } }])
  if (answer !== `Hello from ${mode}` && mode !== 'fragmented') {
    for (const t of answer.match(/\s*\S+/g) ?? [answer]) text(t)
    ev.push(['content_block_stop', { type: 'content_block_stop', index }])
    ev.push(['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 15 } }])
    ev.push(['message_stop', { type: 'message_stop' }])
    return ev
  }
  if (mode === 'tool') {
    text('Let me check')
    text(' the weather.')
    ev.push(['content_block_stop', { type: 'content_block_stop', index: 0 }])
    ev.push(['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: TOOL_USE_ID, name: 'get_weather', input: {} } }])
    for (const p of WEATHER_JSON_PIECES) ev.push(['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: p } }])
    ev.push(['content_block_stop', { type: 'content_block_stop', index: 1 }])
    ev.push(['message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 89 } }])
    ev.push(['message_stop', { type: 'message_stop' }])
    return ev
  }
  text('Hello')
  text(' from')
  if (mode === 'stream-error') {
    ev.push(['error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }])
    return ev
  }
  if (mode === 'cut' || mode === 'reset') return ev
  text(mode === 'fragmented' ? ' fragmented — ✓ 日本語' : ` ${mode}`)
  ev.push(['content_block_stop', { type: 'content_block_stop', index }])
  ev.push(['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 15 } }])
  ev.push(['message_stop', { type: 'message_stop' }])
  return ev
}

export async function startAnthropicUpstream(): Promise<AnthropicUpstream> {
  const requests: Recorded[] = []
  const server = await startServer(async (req: IncomingMessage, res: ServerResponse) => {
    const m = /^\/mode\/([^/]+)(\/.*)$/.exec(req.url ?? '')
    const mode = m?.[1] ?? 'ok'
    const path = m?.[2] ?? req.url ?? ''
    const text = req.method === 'POST' ? await readText(req) : undefined
    const body = text === undefined ? undefined : JSON.parse(text)
    requests.push({ path: req.url ?? '', headers: req.headers, body, text })
    const json = (status: number, text: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': 'req_011CSHoEeqs5C35K2UUqR7Fy', ...headers })
      res.end(text)
    }
    if (req.method !== 'POST' || (path !== '/v1/messages' && path !== '/v1/messages/count_tokens')) return json(404, errorBody('not_found_error', 'Not Found'))
    // What the real API checks before anything else. Keys come as x-api-key or (the current SDK) a Bearer token.
    const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1]
    const key = String(req.headers['x-api-key'] ?? bearer ?? '')
    if (!key) return json(401, errorBody('authentication_error', 'x-api-key header is required'))
    if (!req.headers['anthropic-version']) return json(400, errorBody('invalid_request_error', 'anthropic-version: header is required'))
    if (path === '/v1/messages/count_tokens') {
      if (!Array.isArray(body?.messages)) return json(400, errorBody('invalid_request_error', 'messages: Field required'))
      return json(200, JSON.stringify({ input_tokens: countTokens(body) }))
    }
    if (typeof body?.max_tokens !== 'number') return json(400, errorBody('invalid_request_error', 'max_tokens: Field required'))
    if (!Array.isArray(body?.messages)) return json(400, errorBody('invalid_request_error', 'messages: Field required'))
    for (const [i, msg] of body.messages.entries()) {
      if (msg.role !== 'user' && msg.role !== 'assistant') {
        return json(400, errorBody('invalid_request_error', `messages.${i}.role: Input should be 'user' or 'assistant'`))
      }
    }
    const model = body.model ?? 'unknown'

    switch (mode) {
      case '429':
        return json(429, errorBody('rate_limit_error', 'This request would exceed the rate limit for your organization of 50 requests per minute.'), { 'retry-after': '17', 'anthropic-ratelimit-requests-limit': '50', 'anthropic-ratelimit-requests-remaining': '0' })
      case '529':
        return json(529, errorBody('overloaded_error', 'Overloaded'))
      case '500':
        return json(500, errorBody('api_error', 'Internal server error'))
      case '400':
        return json(400, errorBody('invalid_request_error', 'temperature: Input should be less than or equal to 1'))
      case '401':
        // The real API says "invalid x-api-key"; this one echoes the key to prove the gateway scrubs it.
        return json(401, errorBody('authentication_error', `invalid x-api-key: ${key}`))
      case 'context':
        return json(400, errorBody('invalid_request_error', 'prompt is too long: 208437 tokens > 200000 maximum'))
      case 'context-limit':
        return json(400, errorBody('invalid_request_error', 'input length and `max_tokens` exceed context limit: 188240 + 21333 > 204658, decrease input length or `max_tokens` and try again'))
      case 'html':
        res.writeHead(200, { 'content-type': 'text/html' })
        return res.end('<html><body><h1>502 Bad Gateway</h1></body></html>')
      case 'badjson':
        return json(200, '{"id": "msg_1", "type": "message", "content": [')
      case 'error200':
        return json(200, errorBody('overloaded_error', 'Overloaded'))
    }

    const answer = answerText(body, mode)
    const toolTurn = mode === 'tool' && answer === `Hello from ${mode}`
    if (!body.stream) {
      const content = toolTurn
        ? [{ type: 'text', text: 'Let me check the weather.' }, { type: 'tool_use', id: TOOL_USE_ID, name: 'get_weather', input: WEATHER_INPUT }]
        : [...(mode === 'thinking' ? [{ type: 'thinking', thinking: THINKING, signature: THINKING_SIGNATURE }] : []), { type: 'text', text: answer }]
      return json(200, JSON.stringify(message(model, content, toolTurn ? 'tool_use' : 'end_turn')))
    }

    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': 'req_011CSHoEeqs5C35K2UUqR7Fy' })
    const sse = streamEvents(model, mode, answer)
      .map(([event, data]) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
      .join('')
    if (mode === 'fragmented') {
      // A few bytes per write, so events arrive split anywhere, even inside a UTF-8 character.
      const bytes = Buffer.from(sse, 'utf8')
      for (let i = 0; i < bytes.length; i += 7) {
        res.write(bytes.subarray(i, i + 7))
        if (i % 70 === 0) await sleep(1)
      }
      return res.end()
    }
    res.write(sse)
    if (mode === 'reset') {
      await sleep(50) // let the content reach the client first, then die
      return req.socket.destroy()
    }
    res.end()
  })
  return {
    ...server,
    requests,
    get last() {
      return requests[requests.length - 1]
    },
    base: (mode = 'ok') => `${server.url}/mode/${mode}`,
  }
}
