// A test upstream that speaks Mistral's API as api.mistral.ai does:
// POST /v1/chat/completions and /v1/embeddings with a Bearer key, OpenAI's
// shapes, and Mistral's strictness: unknown fields are a 422 in its
// validation form ({"object":"error","message":{"detail":[...]}, ...}),
// tool call ids must be 9 letters and digits, tool_choice is
// auto|none|any|{function}. Streams put the usage on the last chunk (the
// finish one) and end with [DONE]. Errors otherwise are
// {"object":"error","message","type","param","code"}.
// The path picks a behaviour: http://host/mode/<mode>/v1/... (base(mode)).
// modes: ok, tool (a get_weather call), 429, 401, 500, context.
// A request whose last message is a tool result is answered "The tool said: <content>".
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readText, startServer, type TestServer } from '../helpers/server.ts'

export interface Recorded {
  path: string
  headers: IncomingMessage['headers']
  body: any
}

export interface MistralUpstream extends TestServer {
  requests: Recorded[]
  readonly last: Recorded | undefined
  base(mode?: string): string
}

export const MISTRAL_TOOL_ID = 'D681PevKs'
export const WEATHER_ARGS = { location: 'Paris' }
export const USAGE = { prompt_tokens: 20, total_tokens: 30, completion_tokens: 10 }
export const vectorOf = (text: string) => Array.from({ length: 4 }, (_, i) => ((text.length + i) % 8) / 8 - 0.5)

const CHAT_FIELDS = new Set(['model', 'messages', 'temperature', 'top_p', 'max_tokens', 'stream', 'stop', 'random_seed', 'response_format', 'tools', 'tool_choice', 'presence_penalty', 'frequency_penalty', 'n', 'prediction', 'parallel_tool_calls', 'prompt_mode', 'safe_prompt'])
const EMBED_FIELDS = new Set(['model', 'input', 'output_dimension', 'output_dtype', 'encoding_format'])
const MESSAGE_FIELDS: Record<string, Set<string>> = {
  system: new Set(['role', 'content']),
  user: new Set(['role', 'content']),
  assistant: new Set(['role', 'content', 'tool_calls', 'prefix']),
  tool: new Set(['role', 'content', 'tool_call_id', 'name']),
}
const ID = /^[a-zA-Z0-9]{9}$/

type Detail = { type: string; loc: (string | number)[]; msg: string; input: unknown }

function validate(body: any, fields: Set<string>): Detail[] {
  const d: Detail[] = []
  for (const [k, v] of Object.entries(body)) if (!fields.has(k)) d.push({ type: 'extra_forbidden', loc: ['body', k], msg: 'Extra inputs are not permitted', input: v })
  for (const [i, m] of (Array.isArray(body.messages) ? body.messages : []).entries()) {
    const allowed = MESSAGE_FIELDS[m.role]
    if (!allowed) {
      d.push({ type: 'union_tag_invalid', loc: ['body', 'messages', i], msg: `Input tag '${m.role}' found using 'role' does not match any of the expected tags: 'system', 'user', 'assistant', 'tool'`, input: m })
      continue
    }
    for (const [k, v] of Object.entries(m)) if (!allowed.has(k)) d.push({ type: 'extra_forbidden', loc: ['body', 'messages', i, m.role, k], msg: 'Extra inputs are not permitted', input: v })
  }
  const tc = body.tool_choice
  if (tc !== undefined && typeof tc === 'string' && !['auto', 'none', 'any'].includes(tc)) d.push({ type: 'enum', loc: ['body', 'tool_choice'], msg: "Input should be 'auto', 'none' or 'any'", input: tc })
  return d
}

function badIds(body: any): string | undefined {
  for (const m of body.messages ?? []) {
    for (const id of [m.tool_call_id, ...(m.tool_calls ?? []).map((c: any) => c.id)]) {
      if (id !== undefined && !ID.test(id)) return `Tool call id was ${id} but must be a-z, A-Z, 0-9, with a length of 9.`
    }
  }
  return undefined
}

const error = (message: unknown, type: string, code: string | number | null, param: string | null = null) => ({ object: 'error', message, type, param, code })

export async function startMistralUpstream(): Promise<MistralUpstream> {
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
    if (!/^Bearer .+/.test(String(req.headers.authorization ?? '')) || mode === '401') return json(401, { message: 'Unauthorized', request_id: '2bd0b4d4b2c94dd2a4d7c2f4b2f0a1e3' })
    switch (mode) {
      case '429':
        return json(429, error('Requests rate limit exceeded', 'rate_limit_error', '1300'))
      case '500':
        return json(500, error('Internal server error', 'server_error', '3000'))
      case 'context':
        return json(400, error('Prompt contains 40000 tokens and 0 draft tokens, too large for model with 32768 maximum context length', 'invalid_request_error', '3051'))
    }
    if (path === '/v1/embeddings') {
      const d = validate(body, EMBED_FIELDS)
      if (d.length) return json(422, error({ detail: d }, 'invalid_request_error', null))
      const input: string[] = typeof body.input === 'string' ? [body.input] : body.input
      const vecs = input.map(vectorOf)
      const data = vecs.map((v, index) => ({ object: 'embedding', index, embedding: body.encoding_format === 'base64' ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v }))
      return json(200, { id: 'embd-aad6fc62b17349b192ef09225058bc45', object: 'list', data, model: body.model, usage: { prompt_tokens: 6, total_tokens: 6, completion_tokens: 0 } })
    }
    if (path !== '/v1/chat/completions') return json(404, error('Not Found', 'invalid_request_error', null))
    const d = validate(body, CHAT_FIELDS)
    if (d.length) return json(422, error({ detail: d }, 'invalid_request_error', null))
    const idProblem = badIds(body)
    if (idProblem) return json(400, error(idProblem, 'invalid_request_message_order', '3230'))
    const last = body.messages.at(-1)
    const toolTurn = mode === 'tool' && last?.role !== 'tool'
    const text = last?.role === 'tool' ? `The tool said: ${last.content}` : `Hello from ${mode}`
    const base = { id: 'cmpl-e5cc70bb28c444948073e77776eb30ef', created: 1702256327, model: body.model }
    const call = { id: MISTRAL_TOOL_ID, type: 'function', function: { name: 'get_weather', arguments: JSON.stringify(WEATHER_ARGS) } }
    if (!body.stream) {
      const message = toolTurn ? { role: 'assistant', content: '', tool_calls: [call], prefix: false } : { role: 'assistant', content: text, tool_calls: null, prefix: false }
      return json(200, { ...base, object: 'chat.completion', choices: [{ index: 0, message, finish_reason: toolTurn ? 'tool_calls' : 'stop' }], usage: USAGE })
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' })
    const chunk = (delta: object, finish_reason: string | null, extra: object = {}) => `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason }], ...extra })}\n\n`
    res.write(chunk({ role: 'assistant', content: '' }, null))
    if (toolTurn) res.write(chunk({ tool_calls: [{ ...call, index: 0 }] }, 'tool_calls', { usage: USAGE }))
    else {
      for (const t of text.match(/\s*\S+/g)!) res.write(chunk({ content: t }, null))
      res.write(chunk({ content: '' }, 'stop', { usage: USAGE }))
    }
    res.end('data: [DONE]\n\n')
  })
  const out = Object.assign(server, { requests, base: (mode = 'ok') => `${server.url}/mode/${mode}` })
  // A getter, not a value: Object.assign would copy what it is now.
  return Object.defineProperty(out, 'last', { get: () => requests.at(-1) }) as MistralUpstream
}
