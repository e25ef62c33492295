// OpenAI's Responses API as api.openai.com serves it, for the OpenAI test
// upstream: POST /v1/responses answers the Response object or, with
// stream:true, the typed SSE events (`event: <type>` + `data: {...}`, a
// sequence_number on each, no [DONE]); GET /v1/responses/{id} returns a
// stored response. Shapes from openai's resources/responses/responses.d.ts.
// Modes (the /mode/<mode>/ path segment):
//   ok         text "Hello from ok" (or JSON fitting text.format's json_schema)
//   tool       calls the first function tool; once the input carries a
//              function_call_output, answers "The tool said: <output>"
//   incomplete cut by max_output_tokens: status incomplete, response.incomplete
//   failed     streams response.failed after some text (non-stream: a 500)
import type { ServerResponse } from 'node:http'
import { randomBytes } from 'node:crypto'
import { sampleOf, toolArgs } from './sample.ts'

type Obj = Record<string, any>

export const RESPONSES_USAGE = {
  input_tokens: 36,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 87,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 123,
}

const hex = () => randomBytes(24).toString('hex')

function errorBody(message: string, type: string, code: string | null, param: string | null = null) {
  return JSON.stringify({ error: { message, type, param, code } })
}

/** The answer a test model gives to `body`: one message, or one function call. */
function answer(body: Obj, mode: string): { kind: 'text'; text: string } | { kind: 'call'; name: string; args: string } {
  const input: Obj[] = Array.isArray(body.input) ? body.input : []
  const output = [...input].reverse().find((i) => i?.type === 'function_call_output')
  const tool = (body.tools ?? []).find((t: Obj) => t.type === 'function')
  if (mode === 'tool' && output) return { kind: 'text', text: `The tool said: ${typeof output.output === 'string' ? output.output : JSON.stringify(output.output)}` }
  if (mode === 'tool' && tool) return { kind: 'call', name: tool.name, args: JSON.stringify(toolArgs(tool.name, tool.parameters)) }
  const format = body.text?.format
  if (format?.type === 'json_schema') return { kind: 'text', text: JSON.stringify(sampleOf(format.schema)) }
  if (format?.type === 'json_object') return { kind: 'text', text: '{"answer":"Hello"}' }
  return { kind: 'text', text: mode === 'incomplete' ? 'Hello from' : `Hello from ${mode}` }
}

/** The Response object, echoing the request's settings as OpenAI does. */
function responseObject(id: string, body: Obj, status: string, output: Obj[], usage: Obj | null): Obj {
  return {
    id,
    object: 'response',
    created_at: 1741476542,
    status,
    background: false,
    completed_at: status === 'completed' ? 1741476543 : null,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    max_tool_calls: null,
    model: body.model,
    output,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    prompt_cache_key: null,
    reasoning: { effort: null, summary: null },
    safety_identifier: null,
    service_tier: 'default',
    store: body.store ?? true,
    temperature: body.temperature ?? 1.0,
    text: { format: body.text?.format ?? { type: 'text' }, verbosity: 'medium' },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_logprobs: 0,
    top_p: body.top_p ?? 1.0,
    truncation: 'disabled',
    usage,
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  }
}

export interface ResponsesServer {
  /** Handles /responses and /responses/{id}; false when the path is not the Responses API's. */
  handle(res: ServerResponse, method: string, path: string, mode: string, body: Obj | undefined): boolean
  /** Responses stored (store not false), by id. */
  stored: Map<string, Obj>
}

export function responsesServer(): ResponsesServer {
  const stored = new Map<string, Obj>()
  const json = (res: ServerResponse, status: number, text: string) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(text)
  }
  function handle(res: ServerResponse, method: string, path: string, mode: string, body: Obj | undefined): boolean {
    const get = /^\/responses\/([^/?]+)$/.exec(path)
    if (get && method === 'GET') {
      const r = stored.get(get[1]!)
      if (!r) json(res, 404, errorBody(`Response with id '${get[1]}' not found.`, 'invalid_request_error', null))
      else json(res, 200, JSON.stringify(r))
      return true
    }
    if (path !== '/responses' || method !== 'POST' || !body) return false
    if (typeof body.model !== 'string') {
      json(res, 400, errorBody("Missing required parameter: 'model'.", 'invalid_request_error', 'missing_required_parameter', 'model'))
      return true
    }
    const prev = body.previous_response_id
    if (typeof prev === 'string' && !stored.has(prev)) {
      json(res, 400, errorBody(`Previous response with id '${prev}' not found.`, 'invalid_request_error', 'previous_response_not_found', 'previous_response_id'))
      return true
    }
    if (mode === 'failed' && !body.stream) {
      json(res, 500, errorBody('The server had an error processing your request. Sorry about that!', 'server_error', null))
      return true
    }
    const id = `resp_${hex()}`
    const a = answer(body, mode)
    const status = mode === 'incomplete' ? 'incomplete' : 'completed'
    const item: Obj =
      a.kind === 'call'
        ? { id: `fc_${hex()}`, type: 'function_call', status: 'completed', arguments: a.args, call_id: `call_${randomBytes(12).toString('base64url')}`, name: a.name }
        : { id: `msg_${hex()}`, type: 'message', status: status === 'completed' ? 'completed' : 'incomplete', content: [{ type: 'output_text', annotations: [], logprobs: [], text: a.text }], role: 'assistant' }
    const final = responseObject(id, body, status, [item], RESPONSES_USAGE)
    if (body.store !== false) stored.set(id, final)
    if (!body.stream) {
      json(res, 200, JSON.stringify(final))
      return true
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' })
    res.end(streamEvents(id, body, mode, item, final).map((e, i) => `event: ${e.type}\ndata: ${JSON.stringify({ ...e, sequence_number: i })}\n\n`).join(''))
    return true
  }
  return { handle, stored }
}

/** The typed events of one streamed response, in OpenAI's order, without sequence numbers. */
function streamEvents(id: string, body: Obj, mode: string, item: Obj, final: Obj): Obj[] {
  const pending = responseObject(id, body, 'in_progress', [], null)
  const ev: Obj[] = [
    { type: 'response.created', response: pending },
    { type: 'response.in_progress', response: pending },
  ]
  const at = { item_id: item.id, output_index: 0 }
  if (item.type === 'function_call') {
    ev.push({ type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress', arguments: '' } })
    const args: string = item.arguments
    for (let i = 0; i < args.length; i += 12) ev.push({ type: 'response.function_call_arguments.delta', ...at, delta: args.slice(i, i + 12) })
    ev.push({ type: 'response.function_call_arguments.done', ...at, name: item.name, arguments: args })
    ev.push({ type: 'response.output_item.done', output_index: 0, item })
    ev.push({ type: 'response.completed', response: final })
    return ev
  }
  const text: string = item.content[0].text
  const part = { type: 'output_text', annotations: [], logprobs: [], text: '' }
  ev.push({ type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress', content: [] } })
  ev.push({ type: 'response.content_part.added', ...at, content_index: 0, part })
  const pieces = text.match(/\s*\S+/g) ?? [text]
  for (const delta of pieces) ev.push({ type: 'response.output_text.delta', ...at, content_index: 0, delta, logprobs: [] })
  if (mode === 'failed') {
    ev.push({ type: 'response.failed', response: { ...responseObject(id, body, 'failed', [], null), error: { code: 'server_error', message: 'The model produced invalid content.' } } })
    return ev
  }
  ev.push({ type: 'response.output_text.done', ...at, content_index: 0, text, logprobs: [] })
  ev.push({ type: 'response.content_part.done', ...at, content_index: 0, part: { ...part, text } })
  ev.push({ type: 'response.output_item.done', output_index: 0, item })
  ev.push({ type: mode === 'incomplete' ? 'response.incomplete' : 'response.completed', response: final })
  return ev
}
