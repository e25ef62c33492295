// A test upstream that speaks Cohere's v2 API as api.cohere.com does:
// POST /v2/chat (Bearer key) answering the chat response object or, with
// stream: true, the SSE events (`event: <type>` + `data: {"type":...}`:
// message-start, content-start/delta/end, citation-start/end, tool-plan-delta,
// tool-call-start/delta/end, message-end with finish_reason and usage; no
// [DONE]), POST /v2/embed answering embeddings by type, and errors as
// {"message": "..."} with Cohere's statuses. It checks requests as Cohere
// does: roles, tool messages' tool_call_id, tool_choice REQUIRED|NONE,
// embedding_types required, and refuses OpenAI's names (top_p, stop, n...).
// The path picks a behaviour: http://host/mode/<mode>/v2/chat (base(mode)).
// modes: ok, tool (a tool plan and a get_weather call), 429, 400, context
//        (too many tokens), 401, 402, 500, stream-error (message-end with
//        finish_reason ERROR), cut (stream ends before message-end).
// A request whose last message is a tool result is answered "The tool said: <content>".
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readText, startServer, type TestServer } from '../helpers/server.ts'

export interface Recorded {
  path: string
  headers: IncomingMessage['headers']
  body: any
}

export interface CohereUpstream extends TestServer {
  requests: Recorded[]
  readonly last: Recorded | undefined
  base(mode?: string): string
}

export const CHAT_ID = 'c14c80c3-18eb-4519-9460-6c92edd8cfb4'
export const TOOL_CALL_ID = 'get_weather_1byjy32y4hvq'
export const WEATHER_ARGS = { location: 'Toronto', unit: 'celsius' }
export const WEATHER_ARG_PIECES = ['{"location":', ' "Tor', 'onto", "unit', '": "celsius"}']
/** Billed units (what Cohere charges) and the tokens the model saw, template included. */
export const USAGE = { billed_units: { input_tokens: 12, output_tokens: 7 }, tokens: { input_tokens: 210, output_tokens: 9 } }
export const EMBED_DIMS = 4
/** The vector this upstream gives a text: exact in float32, so base64 round trips compare equal. */
export const vectorOf = (text: string) => Array.from({ length: EMBED_DIMS }, (_, i) => ((text.length + i) % 8) / 8 - 0.5)

const CITATION = { start: 0, end: 5, text: 'Hello', sources: [{ type: 'document', id: 'doc:0', document: { id: 'doc:0', snippet: 'Hello world' } }] }
const OPENAI_ONLY = ['top_p', 'stop', 'n', 'max_completion_tokens', 'stream_options', 'user', 'tool_calls', 'logit_bias']

function answerText(body: any, mode: string): string {
  const last = body.messages.at(-1)
  if (last?.role === 'tool') return `The tool said: ${typeof last.content === 'string' ? last.content : JSON.stringify(last.content)}`
  return `Hello from ${mode}`
}

/** What Cohere checks before answering; the message it gives, or undefined. */
function invalid(body: any): string | undefined {
  if (typeof body?.model !== 'string') return 'invalid request: model is required'
  if (!Array.isArray(body.messages)) return 'invalid request: messages is required'
  for (const k of OPENAI_ONLY) if (k in body) return `invalid request: unknown field: parameter ${k} is not a valid field`
  for (const [i, m] of body.messages.entries()) {
    if (!['system', 'user', 'assistant', 'tool'].includes(m.role)) return `invalid request: messages[${i}].role must be one of system, user, assistant, tool`
    if (m.role === 'tool' && typeof m.tool_call_id !== 'string') return `invalid request: messages[${i}].tool_call_id is required`
    if (m.role === 'assistant' && m.content === undefined && !m.tool_calls) return `invalid request: messages[${i}] must have content or tool_calls`
  }
  if (body.tool_choice !== undefined && !['REQUIRED', 'NONE'].includes(body.tool_choice)) return `invalid request: tool_choice must be one of REQUIRED, NONE`
  if (body.response_format && !['text', 'json_object'].includes(body.response_format.type)) return 'invalid request: response_format.type must be one of text, json_object'
  return undefined
}

function events(mode: string, answer: string, toolTurn: boolean): Array<[string, object]> {
  const ev: Array<[string, object]> = [['message-start', { id: CHAT_ID, type: 'message-start', delta: { message: { role: 'assistant', content: [], tool_plan: '', tool_calls: [], citations: [] } } }]]
  const end = (finish_reason: string) => ev.push(['message-end', { type: 'message-end', delta: { finish_reason, usage: USAGE } }])
  if (toolTurn) {
    for (const t of ['I will look up', ' the weather.']) ev.push(['tool-plan-delta', { type: 'tool-plan-delta', delta: { message: { tool_plan: t } } }])
    ev.push(['tool-call-start', { type: 'tool-call-start', index: 0, delta: { message: { tool_calls: { id: TOOL_CALL_ID, type: 'function', function: { name: 'get_weather', arguments: '' } } } } }])
    for (const p of WEATHER_ARG_PIECES) ev.push(['tool-call-delta', { type: 'tool-call-delta', index: 0, delta: { message: { tool_calls: { function: { arguments: p } } } } }])
    ev.push(['tool-call-end', { type: 'tool-call-end', index: 0 }])
    end('TOOL_CALL')
    return ev
  }
  ev.push(['content-start', { type: 'content-start', index: 0, delta: { message: { content: { type: 'text', text: '' } } } }])
  for (const t of answer.match(/\s*\S+/g) ?? [answer]) ev.push(['content-delta', { type: 'content-delta', index: 0, delta: { message: { content: { text: t } } }, logprobs: null }])
  if (mode === 'cut') return ev
  ev.push(['citation-start', { type: 'citation-start', index: 0, delta: { message: { citations: CITATION } } }], ['citation-end', { type: 'citation-end', index: 0 }])
  ev.push(['content-end', { type: 'content-end', index: 0 }])
  end(mode === 'stream-error' ? 'ERROR' : 'COMPLETE')
  return ev
}

export async function startCohereUpstream(): Promise<CohereUpstream> {
  const requests: Recorded[] = []
  const server = await startServer(async (req: IncomingMessage, res: ServerResponse) => {
    const m = /^\/mode\/([^/]+)(\/.*)$/.exec(req.url ?? '')
    const mode = m?.[1] ?? 'ok'
    const path = m?.[2] ?? req.url ?? ''
    const body = req.method === 'POST' ? JSON.parse(await readText(req)) : undefined
    requests.push({ path: req.url ?? '', headers: req.headers, body })
    const json = (status: number, value: object, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(JSON.stringify(value))
    }
    if (req.method !== 'POST' || (path !== '/v2/chat' && path !== '/v2/embed')) return json(404, { message: `the requested resource ${path} was not found` })
    if (!/^Bearer .+/.test(String(req.headers.authorization ?? ''))) return json(401, { message: 'no api key supplied' })
    switch (mode) {
      case '429':
        return json(429, { message: 'You are using a Trial key, which is limited to 20 API calls / minute. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits.' })
      case '400':
        return json(400, { message: 'invalid request: temperature must be between 0 and 1' })
      case 'context':
        return json(400, { message: 'too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 4292. Try using a shorter prompt, or enabling prompt truncating.' })
      case '401':
        return json(401, { message: 'invalid api token' })
      case '402':
        return json(402, { message: 'Please add or update your payment method at https://dashboard.cohere.com/billing' })
      case '500':
        return json(500, { message: 'internal server error, this has been reported to our developers' })
    }
    if (path === '/v2/embed') {
      if (!Array.isArray(body.embedding_types)) return json(400, { message: 'invalid request: embedding_types is required' })
      if (!Array.isArray(body.texts) || typeof body.input_type !== 'string') return json(400, { message: 'invalid request: texts and input_type are required' })
      const tokens = body.texts.reduce((n: number, t: string) => n + t.split(/\s+/).length, 0)
      return json(200, { id: 'da6e531f-54c6-4a73-bf92-f60566d8d753', embeddings: { float: body.texts.map(vectorOf) }, texts: body.texts, meta: { api_version: { version: '2' }, billed_units: { input_tokens: tokens } }, response_type: 'embeddings_by_type' })
    }
    const problem = invalid(body)
    if (problem) return json(400, { message: problem })
    const answer = answerText(body, mode)
    const toolTurn = mode === 'tool' && !answer.startsWith('The tool said')
    if (!body.stream) {
      const message = toolTurn
        ? { role: 'assistant', tool_plan: 'I will look up the weather.', tool_calls: [{ id: TOOL_CALL_ID, type: 'function', function: { name: 'get_weather', arguments: JSON.stringify(WEATHER_ARGS) } }] }
        : { role: 'assistant', content: [{ type: 'text', text: answer }], citations: [CITATION] }
      return json(200, { id: CHAT_ID, message, finish_reason: toolTurn ? 'TOOL_CALL' : mode === 'stream-error' ? 'ERROR' : 'COMPLETE', usage: USAGE })
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    for (const [event, data] of events(mode, answer, toolTurn)) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    res.end()
  })
  const out = Object.assign(server, { requests, base: (mode = 'ok') => `${server.url}/mode/${mode}` })
  // A getter, not a value: Object.assign would copy what it is now.
  return Object.defineProperty(out, 'last', { get: () => requests.at(-1) }) as CohereUpstream
}
