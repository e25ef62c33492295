// OpenAI chat request -> Cohere v2 chat request (POST /v2/chat).
// Cohere's messages are close to OpenAI's (system/user/assistant/tool roles,
// function tools, tool_call_id); the parameters are renamed (top_p -> p,
// stop -> stop_sequences), tool_choice is upper case with no "auto" and no
// named function, and JSON mode takes its schema inside json_object.
import { UpstreamError } from '../errors.ts'

type Obj = Record<string, any>

const invalid = (message: string, param: string) => new UpstreamError('bad_request', message, 400, undefined, 'invalid_request_error', param)

/** The text of an OpenAI content value (string or parts); images are refused where Cohere takes none. */
function textOf(content: unknown, where: string): string {
  if (content == null) return ''
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) throw invalid(`${where}: content must be a string or an array of parts`, where)
  return content
    .map((p: Obj, i) => {
      if (p?.type === 'text' && typeof p.text === 'string') return p.text
      throw invalid(`${where}.content[${i}]: only text parts can go to Cohere here`, where)
    })
    .join('')
}

/** A user turn: text, or text and image parts (Cohere's vision models take image_url as OpenAI does). */
function userContent(content: unknown, where: string): string | Obj[] {
  if (typeof content === 'string' || content == null) return content ?? ''
  if (!Array.isArray(content)) throw invalid(`${where}: content must be a string or an array of parts`, where)
  return content.map((p: Obj, i) => {
    if (p?.type === 'text' && typeof p.text === 'string') return { type: 'text', text: p.text }
    if (p?.type === 'image_url' && typeof p.image_url?.url === 'string') return { type: 'image_url', image_url: { url: p.image_url.url } }
    throw invalid(`${where}.content[${i}]: Cohere takes text and image_url parts`, where)
  })
}

function toMessage(m: Obj, i: number): Obj {
  const where = `messages[${i}]`
  switch (m?.role) {
    case 'system':
    case 'developer':
      return { role: 'system', content: textOf(m.content, where) }
    case 'user':
      return { role: 'user', content: userContent(m.content, where) }
    case 'assistant': {
      const out: Obj = { role: 'assistant' }
      const text = textOf(m.content, where)
      const calls = Array.isArray(m.tool_calls) ? m.tool_calls : []
      if (calls.length) {
        out.tool_calls = calls.map((c: Obj) => ({ id: String(c.id), type: 'function', function: { name: String(c.function?.name), arguments: String(c.function?.arguments ?? '{}') } }))
        // Text said alongside tool calls is Cohere's tool plan.
        if (text) out.tool_plan = text
      } else out.content = text
      return out
    }
    case 'tool':
      return { role: 'tool', tool_call_id: String(m.tool_call_id), content: textOf(m.content, where) }
    default:
      throw invalid(`${where}: role "${m?.role}" has no Cohere counterpart`, where)
  }
}

function toolChoice(choice: unknown, tools: Obj[] | undefined): { tool_choice?: string; tools?: Obj[] } {
  if (choice == null || choice === 'auto') return { tools }
  if (choice === 'none') return { tools, tool_choice: 'NONE' }
  if (choice === 'required') return { tools, tool_choice: 'REQUIRED' }
  const name = (choice as Obj)?.function?.name
  if (typeof name === 'string') {
    // Cohere cannot name the tool to call: offer only that one and require a call.
    const only = tools?.filter((t) => t.function?.name === name)
    if (!only?.length) throw invalid(`tool_choice names "${name}", which is not among the tools`, 'tool_choice')
    return { tools: only, tool_choice: 'REQUIRED' }
  }
  throw invalid('tool_choice is not one Cohere can follow', 'tool_choice')
}

function responseFormat(rf: Obj | undefined): Obj | undefined {
  if (!rf || rf.type === 'text') return undefined
  if (rf.type === 'json_object') return { type: 'json_object' }
  if (rf.type === 'json_schema') return { type: 'json_object', json_schema: rf.json_schema?.schema ?? {} }
  throw invalid(`response_format type "${rf.type}" has no Cohere counterpart`, 'response_format')
}

export function toCohereRequest(body: Obj, stream: boolean): Obj {
  if (!Array.isArray(body.messages)) throw invalid('messages must be an array', 'messages')
  if (typeof body.n === 'number' && body.n > 1) throw invalid('Cohere answers one choice per request (n must be 1)', 'n')
  const tools = Array.isArray(body.tools)
    ? body.tools.map((t: Obj) => ({ type: 'function', function: { name: t.function?.name, description: t.function?.description, parameters: t.function?.parameters ?? { type: 'object', properties: {} } } }))
    : undefined
  const out: Obj = { model: body.model, messages: body.messages.map(toMessage), stream }
  const tc = toolChoice(body.tool_choice, tools)
  if (tc.tools?.length) out.tools = tc.tools
  if (tc.tool_choice) out.tool_choice = tc.tool_choice
  if (tools?.some((t: Obj, i: number) => body.tools[i].function?.strict === true)) out.strict_tools = true
  const maxTokens = body.max_completion_tokens ?? body.max_tokens
  if (typeof maxTokens === 'number') out.max_tokens = maxTokens
  if (typeof body.temperature === 'number') out.temperature = body.temperature
  if (typeof body.top_p === 'number') out.p = body.top_p
  if (typeof body.seed === 'number') out.seed = body.seed
  if (typeof body.frequency_penalty === 'number') out.frequency_penalty = body.frequency_penalty
  if (typeof body.presence_penalty === 'number') out.presence_penalty = body.presence_penalty
  if (body.stop != null) out.stop_sequences = Array.isArray(body.stop) ? body.stop : [body.stop]
  const rf = responseFormat(body.response_format)
  if (rf) out.response_format = rf
  return out
}
