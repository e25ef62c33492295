// OpenAI chat request -> Anthropic Messages request. System and developer
// messages become the top-level `system`; tool calls and tool results become
// tool_use / tool_result blocks; consecutive messages of one role are merged,
// since Anthropic wants user and assistant turns to alternate.
import { UpstreamError } from '../errors.ts'
import { MAX_JSON_DEPTH, tooDeep } from '../../api/body.ts'

export const DEFAULT_MAX_TOKENS = 4096

export type AnthropicBlock =
  | { type: 'text'; text: string }
  | { type: 'image'; source: { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string } }
  | { type: 'document'; source: { type: 'base64'; media_type: string; data: string } }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'tool_result'; tool_use_id: string; content: string | AnthropicBlock[] }

export interface AnthropicMessage {
  role: 'user' | 'assistant'
  content: AnthropicBlock[]
}

export interface AnthropicTool {
  name: string
  description?: string
  input_schema: Record<string, unknown>
}

export type AnthropicToolChoice =
  | { type: 'auto' | 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' }

export interface AnthropicRequest {
  model: string
  messages: AnthropicMessage[]
  max_tokens: number
  system?: string
  stop_sequences?: string[]
  /** Structured output: the answer is JSON fitting the schema (OpenAI's response_format json_schema). */
  output_config?: { format: { type: 'json_schema'; schema: Record<string, unknown> } }
  temperature?: number
  top_p?: number
  tools?: AnthropicTool[]
  tool_choice?: AnthropicToolChoice
  metadata?: { user_id: string }
  stream?: boolean
}

type Obj = Record<string, unknown>

const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v)

function invalid(message: string, param?: string): UpstreamError {
  return new UpstreamError('bad_request', message, undefined, undefined, 'invalid_value', param)
}

/** Translate an OpenAI chat request body; `stream` is the call's, not the body's. */
export function toAnthropicRequest(body: Obj, stream = body.stream === true): AnthropicRequest {
  if (typeof body.n === 'number' && body.n > 1) throw invalid('n > 1 is not supported by this backend', 'n')
  if (!Array.isArray(body.messages)) throw invalid('messages must be an array', 'messages')

  const system: string[] = []
  const messages: AnthropicMessage[] = []
  const push = (role: AnthropicMessage['role'], content: AnthropicBlock[]) => {
    const last = messages[messages.length - 1]
    if (last && last.role === role) last.content.push(...content)
    else messages.push({ role, content })
  }

  body.messages.forEach((m: unknown, i: number) => {
    if (!isObj(m)) throw invalid(`messages[${i}] must be an object`, `messages[${i}]`)
    const at = `messages[${i}]`
    switch (m.role) {
      case 'system':
      case 'developer': {
        const text = textOf(m.content, at)
        if (text) system.push(text)
        return
      }
      case 'user':
        return push('user', contentBlocks(m.content, at))
      case 'assistant': {
        const blocks = m.content == null ? [] : contentBlocks(m.content, at)
        if (Array.isArray(m.tool_calls)) blocks.push(...m.tool_calls.map((c, j) => toolUse(c, `${at}.tool_calls[${j}]`)))
        if (blocks.length) push('assistant', blocks)
        return
      }
      case 'tool': {
        if (typeof m.tool_call_id !== 'string') throw invalid(`${at}.tool_call_id must be a string`, `${at}.tool_call_id`)
        const content = typeof m.content === 'string' ? m.content : contentBlocks(m.content, at)
        return push('user', [{ type: 'tool_result', tool_use_id: m.tool_call_id, content }])
      }
      default:
        throw invalid(`${at}.role "${String(m.role)}" is not supported by this backend`, `${at}.role`)
    }
  })

  const out: AnthropicRequest = {
    model: String(body.model ?? ''),
    messages,
    max_tokens: positiveInt(body.max_completion_tokens) ?? positiveInt(body.max_tokens) ?? DEFAULT_MAX_TOKENS,
  }
  if (system.length) out.system = system.join('\n\n')
  if (typeof body.stop === 'string') out.stop_sequences = [body.stop]
  else if (Array.isArray(body.stop) && body.stop.length) out.stop_sequences = body.stop.filter((s): s is string => typeof s === 'string')
  // OpenAI's range is 0-2, Anthropic's 0-1.
  if (typeof body.temperature === 'number') out.temperature = Math.min(Math.max(body.temperature, 0), 1)
  if (typeof body.top_p === 'number') out.top_p = body.top_p

  if (Array.isArray(body.tools) && body.tools.length) {
    out.tools = body.tools.map((t, i) => toTool(t, i))
    const choice = toToolChoice(body.tool_choice)
    const noParallel = body.parallel_tool_calls === false
    if (choice?.type === 'none') out.tool_choice = choice
    else if (choice || noParallel) out.tool_choice = { ...(choice ?? { type: 'auto' }), ...(noParallel ? { disable_parallel_tool_use: true } : {}) }
  }
  if (typeof body.user === 'string' && body.user) out.metadata = { user_id: body.user }
  const format = jsonSchemaOf(body.response_format)
  if (format) out.output_config = { format: { type: 'json_schema', schema: format } }
  if (stream) out.stream = true
  return out
}

function positiveInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined
}

/** A system/developer message's content as one string. */
function textOf(content: unknown, at: string): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) throw invalid(`${at}.content must be a string or an array`, `${at}.content`)
  return content
    .map((p, j) => {
      if (isObj(p) && p.type === 'text' && typeof p.text === 'string') return p.text
      throw invalid(`${at}.content[${j}]: only text parts are allowed here`, `${at}.content`)
    })
    .join('\n')
}

function contentBlocks(content: unknown, at: string): AnthropicBlock[] {
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : []
  if (!Array.isArray(content)) throw invalid(`${at}.content must be a string or an array`, `${at}.content`)
  const out: AnthropicBlock[] = []
  content.forEach((p, j) => {
    const where = `${at}.content[${j}]`
    if (!isObj(p)) throw invalid(`${where} must be an object`, `${at}.content`)
    switch (p.type) {
      case 'text':
        // Anthropic rejects empty text blocks.
        if (typeof p.text === 'string' && p.text) out.push({ type: 'text', text: p.text })
        return
      case 'refusal':
        if (typeof p.refusal === 'string' && p.refusal) out.push({ type: 'text', text: p.refusal })
        return
      case 'image_url': {
        const url = isObj(p.image_url) ? p.image_url.url : undefined
        if (typeof url !== 'string') throw invalid(`${where}.image_url.url must be a string`, `${at}.content`)
        out.push(image(url, where))
        return
      }
      case 'file': {
        const data = isObj(p.file) ? p.file.file_data : undefined
        const d = typeof data === 'string' ? parseDataUrl(data) : undefined
        if (!d || d.mediaType !== 'application/pdf') throw invalid(`${where}: only PDF files given as file_data are supported by this backend`, `${at}.content`)
        out.push({ type: 'document', source: { type: 'base64', media_type: d.mediaType, data: d.data } })
        return
      }
      default:
        throw invalid(`${where}: content part type "${String(p.type)}" is not supported by this backend`, `${at}.content`)
    }
  })
  return out
}

function image(url: string, where: string): AnthropicBlock {
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } }
  const d = parseDataUrl(url)
  if (!d) throw invalid(`${where}: image_url must be an http(s) URL or a base64 data: URL`, where)
  return { type: 'image', source: { type: 'base64', media_type: d.mediaType, data: d.data } }
}

/** `data:<type>[;params];base64,<data>`; only base64 payloads. */
function parseDataUrl(url: string): { mediaType: string; data: string } | undefined {
  const m = /^data:([^;,]+)((?:;[^;,]+)*);base64,(.*)$/s.exec(url)
  return m ? { mediaType: m[1]!.toLowerCase(), data: m[3]! } : undefined
}

function toolUse(c: unknown, at: string): AnthropicBlock {
  if (!isObj(c) || !isObj(c.function) || typeof c.id !== 'string' || typeof c.function.name !== 'string') {
    throw invalid(`${at} must have an id and a function name`, at)
  }
  const args = c.function.arguments
  let input: unknown = {}
  if (typeof args === 'string' && args.trim()) {
    try {
      input = JSON.parse(args)
    } catch {
      throw invalid(`${at}.function.arguments is not valid JSON`, `${at}.function.arguments`)
    }
    if (tooDeep(input)) throw invalid(`${at}.function.arguments is nested more than ${MAX_JSON_DEPTH} levels deep`, `${at}.function.arguments`)
  } else if (isObj(args)) input = args
  return { type: 'tool_use', id: c.id, name: c.function.name, input: isObj(input) ? input : {} }
}

function toTool(t: unknown, i: number): AnthropicTool {
  if (!isObj(t) || t.type !== 'function' || !isObj(t.function) || typeof t.function.name !== 'string') {
    throw invalid(`tools[${i}]: only function tools are supported by this backend`, `tools[${i}]`)
  }
  const f = t.function
  const tool: AnthropicTool = { name: f.name as string, input_schema: isObj(f.parameters) ? f.parameters : { type: 'object', properties: {} } }
  if (typeof f.description === 'string') tool.description = f.description
  return tool
}

function toToolChoice(c: unknown): AnthropicToolChoice | undefined {
  if (c == null) return undefined
  if (c === 'auto') return { type: 'auto' }
  if (c === 'none') return { type: 'none' }
  if (c === 'required') return { type: 'any' }
  if (isObj(c) && c.type === 'function' && isObj(c.function) && typeof c.function.name === 'string') return { type: 'tool', name: c.function.name }
  throw invalid('tool_choice must be "auto", "none", "required" or a function', 'tool_choice')
}

/** The schema of an OpenAI `response_format: {type: 'json_schema', json_schema: {schema}}`. */
function jsonSchemaOf(rf: unknown): Record<string, unknown> | undefined {
  const f = rf as { type?: unknown; json_schema?: { schema?: unknown } } | null | undefined
  const schema = f?.type === 'json_schema' ? f.json_schema?.schema : undefined
  return schema && typeof schema === 'object' && !Array.isArray(schema) ? (schema as Record<string, unknown>) : undefined
}
