// A test upstream that speaks OpenAI's API as api.openai.com does: the
// chat.completion / text_completion / embedding objects, SSE chunk streams
// ending in `data: [DONE]`, the usage chunk when asked, and OpenAI's error
// bodies; and the Responses API (./openai-responses.ts). The first path
// segment after /mode/ picks a behaviour, so one server can play a healthy
// backend and several broken ones:
//   http://host/mode/<mode>/v1/chat/completions
// modes: ok, 500, 503, 429, 400, 401, context, hang, reset, html, badjson,
//        cut (stream dies after some content), stall (content, then silence), early-error (error before content), slow (chunks 150 ms apart),
//        tool (calls the first tool; after a tool message answers "The tool said: <content>"),
//        incomplete, failed (Responses API only)
// A chat request with response_format json_schema is answered with JSON that fits the schema.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readText, startServer, type TestServer } from '../helpers/server.ts'
import { responsesServer } from './openai-responses.ts'
import { sampleOf, toolArgs } from './sample.ts'

export interface Recorded {
  path: string
  method?: string
  headers: IncomingMessage['headers']
  body: any
  /** The body's text as it arrived. */
  text?: string
}

export interface OpenAIUpstream extends TestServer {
  requests: Recorded[]
  /** Base URL for a backend that behaves as `mode`. */
  base(mode?: string): string
  /** Paths of requests whose connection closed before the response ended. */
  aborted: string[]
  /** Responses the native /v1/responses endpoint stored, by id. */
  storedResponses: Map<string, any>
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function chatCompletion(model: string, content: string, usage = { prompt_tokens: 9, completion_tokens: 12, total_tokens: 21 }) {
  return {
    id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
    object: 'chat.completion',
    created: 1741570283,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
    usage: { ...usage, prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 } },
    service_tier: 'default',
    system_fingerprint: 'fp_06737a9306',
  }
}

function errorBody(message: string, type: string, code: string | null, param: string | null = null) {
  return JSON.stringify({ error: { message, type, param, code } })
}

export async function startOpenAIUpstream(): Promise<OpenAIUpstream> {
  const requests: Recorded[] = []
  const aborted: string[] = []
  const responses = responsesServer()
  const server = await startServer(async (req: IncomingMessage, res: ServerResponse) => {
    const m = /^\/mode\/([^/]+)\/v1(\/.*)$/.exec(req.url ?? '')
    const mode = m?.[1] ?? 'ok'
    const path = m?.[2] ?? req.url ?? ''
    const text = req.method === 'POST' ? await readText(req) : undefined
    const body = text === undefined ? undefined : JSON.parse(text)
    requests.push({ path: req.url ?? '', method: req.method, headers: req.headers, body, text })
    res.on('close', () => {
      if (!res.writableFinished) aborted.push(req.url ?? '')
    })
    const json = (status: number, text: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(text)
    }
    switch (mode) {
      case '500':
        return json(500, errorBody('The server had an error while processing your request. Sorry about that!', 'server_error', null))
      case '503':
        return json(503, errorBody('The engine is currently overloaded, please try again later', 'server_error', null))
      case '429':
        return json(429, errorBody('Rate limit reached for gpt-4o in organization org-x on requests per min (RPM): Limit 3, Used 3, Requested 1.', 'requests', 'rate_limit_exceeded'), { 'retry-after': '7' })
      case '400':
        return json(400, errorBody("Invalid value for 'temperature': must be between 0 and 2.", 'invalid_request_error', 'invalid_value', 'temperature'))
      case '401':
        return json(401, errorBody(`Incorrect API key provided: ${String(req.headers.authorization ?? '').slice(7)}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', 'invalid_api_key'))
      case 'context':
        return json(400, errorBody("This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.", 'invalid_request_error', 'context_length_exceeded', 'messages'))
      case 'hang':
        return // never answers
      case 'reset':
        return req.socket.destroy()
      case 'html':
        res.writeHead(200, { 'content-type': 'text/html' })
        return res.end('<html><body><h1>502 Bad Gateway</h1></body></html>')
      case 'badjson':
        return json(200, '{"id": "chatcmpl-1", "choices": [')
    }
    const model = body?.model ?? 'unknown'
    if (path === '/models') {
      return json(200, JSON.stringify({ object: 'list', data: [{ id: 'gpt-4o', object: 'model', created: 1715367049, owned_by: 'system' }] }))
    }
    if (path === '/embeddings') {
      const inputs = Array.isArray(body.input) ? body.input : [body.input]
      const vec = [0.0023064255, -0.009327292, 0.015797347]
      const embedding = body.encoding_format === 'base64' ? Buffer.from(new Float32Array(vec).buffer).toString('base64') : vec
      return json(200, JSON.stringify({ object: 'list', data: inputs.map((_: unknown, index: number) => ({ object: 'embedding', index, embedding })), model, usage: { prompt_tokens: 8, total_tokens: 8 } }))
    }
    if (path === '/completions') {
      if (body.stream) return streamCompletions(res, model)
      return json(200, JSON.stringify({ id: 'cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7', object: 'text_completion', created: 1589478378, model, system_fingerprint: 'fp_44709d6fcb', choices: [{ text: '\n\nThis is indeed a test', index: 0, logprobs: null, finish_reason: 'length' }], usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } }))
    }
    if (responses.handle(res, req.method ?? 'GET', path, mode, body)) return
    if (path !== '/chat/completions') return json(404, errorBody(`Invalid URL (POST /v1${path})`, 'invalid_request_error', null))
    const call = mode === 'tool' ? toolCall(body) : undefined
    if (call) return answerToolCall(res, model, call, body)
    const content = chatAnswer(body, mode)
    if (!body.stream) return json(200, JSON.stringify(chatCompletion(model, content)))
    if (mode === 'early-error') {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`data: ${JSON.stringify(chunk(model, { role: 'assistant', content: '' }, null))}\n\n`)
      res.write(`data: ${errorBody('The server had an error while processing your request.', 'server_error', null)}\n\n`)
      return res.end()
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' })
    res.write(`data: ${JSON.stringify(chunk(model, { role: 'assistant', content: '', refusal: null }, null))}\n\n`)
    const words = content === `Hello from ${mode}` ? ['Hello', ' from', ` ${mode}`] : (content.match(/\s*\S+/g) ?? [content])
    for (const [i, w] of words.entries()) {
      if (mode === 'slow') await sleep(150)
      if (res.destroyed) return
      res.write(`data: ${JSON.stringify(chunk(model, { content: w }, null))}\n\n`)
      if (mode === 'stall' && i === 0) return // content sent, then silence with the connection open
      if (mode === 'cut' && i === 1) {
        await sleep(100) // let the content reach the client first, then die
        return req.socket.destroy()
      }
    }
    res.write(`data: ${JSON.stringify(chunk(model, {}, 'stop'))}\n\n`)
    if (body.stream_options?.include_usage) {
      res.write(`data: ${JSON.stringify({ ...chunk(model, {}, null), choices: [], usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } })}\n\n`)
    }
    res.write('data: [DONE]\n\n')
    res.end()
  })
  return {
    ...server,
    requests,
    aborted,
    base: (mode = 'ok') => `${server.url}/mode/${mode}/v1`,
    storedResponses: responses.stored,
  }
}

/** The text a test model answers a chat request with. */
function chatAnswer(body: any, mode: string): string {
  const last = body.messages?.at?.(-1)
  if (mode === 'tool' && last?.role === 'tool') {
    return `The tool said: ${typeof last.content === 'string' ? last.content : last.content.map((p: { text?: string }) => p.text ?? '').join('')}`
  }
  if (body.response_format?.type === 'json_schema') return JSON.stringify(sampleOf(body.response_format.json_schema?.schema))
  return `Hello from ${mode}`
}

/** The function call a `tool`-mode model makes: the first tool, unless the last message is a tool result. */
function toolCall(body: any): { id: string; name: string; arguments: string } | undefined {
  const tool = body.tools?.find((t: { type: string }) => t.type === 'function')
  if (!tool || body.messages?.at?.(-1)?.role === 'tool') return undefined
  return { id: 'call_FthC9qRpsL5kBpwwyw6c7j4k', name: tool.function.name, arguments: JSON.stringify(toolArgs(tool.function.name, tool.function.parameters)) }
}

function answerToolCall(res: ServerResponse, model: string, call: { id: string; name: string; arguments: string }, body: any) {
  const tool_calls = [{ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }]
  if (!body.stream) {
    const r = chatCompletion(model, '')
    r.choices[0] = { index: 0, message: { role: 'assistant', content: null, tool_calls, refusal: null, annotations: [] } as never, logprobs: null, finish_reason: 'tool_calls' }
    res.writeHead(200, { 'content-type': 'application/json' })
    return res.end(JSON.stringify(r))
  }
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' })
  const send = (delta: object, finish: string | null) => res.write(`data: ${JSON.stringify(chunk(model, delta, finish))}\n\n`)
  send({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }], refusal: null }, null)
  for (let i = 0; i < call.arguments.length; i += 10) send({ tool_calls: [{ index: 0, function: { arguments: call.arguments.slice(i, i + 10) } }] }, null)
  send({}, 'tool_calls')
  if (body.stream_options?.include_usage) {
    res.write(`data: ${JSON.stringify({ ...chunk(model, {}, null), choices: [], usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } })}\n\n`)
  }
  res.write('data: [DONE]\n\n')
  res.end()
}

function chunk(model: string, delta: object, finish: string | null) {
  return {
    id: 'chatcmpl-123',
    object: 'chat.completion.chunk',
    created: 1694268190,
    model,
    system_fingerprint: 'fp_44709d6fcb',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  }
}

function streamCompletions(res: ServerResponse, model: string) {
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  for (const t of ['\n\nThis', ' is', ' a test']) {
    res.write(`data: ${JSON.stringify({ id: 'cmpl-1', object: 'text_completion', created: 1, model, choices: [{ text: t, index: 0, logprobs: null, finish_reason: null }] })}\n\n`)
  }
  res.write(`data: ${JSON.stringify({ id: 'cmpl-1', object: 'text_completion', created: 1, model, choices: [{ text: '', index: 0, logprobs: null, finish_reason: 'stop' }] })}\n\n`)
  res.write('data: [DONE]\n\n')
  res.end()
}
