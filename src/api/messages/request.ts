// Anthropic Messages request -> the internal form (an OpenAI chat request).
// The reverse of src/providers/anthropic/request.ts. The translation serves
// OpenAI-protocol backends; an Anthropic backend gets the client's body as it
// came (IngressRequest.native), so what chat cannot carry is dropped here,
// never refused: thinking blocks, cache_control, Anthropic's server tools and
// the blocks they produce.
import type { CountTokensRequest, Message, MessagesRequest } from './schema.ts'

type Obj = Record<string, unknown>
type Part = Obj

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The whole request: the prompt plus sampling, limits and streaming. */
export function toChatRequest(req: MessagesRequest): Obj {
  const out = toChatPrompt(req)
  out.max_tokens = req.max_tokens
  if (req.stop_sequences?.length) out.stop = req.stop_sequences
  if (req.temperature !== undefined) out.temperature = req.temperature
  if (req.top_p !== undefined) out.top_p = req.top_p
  // Not OpenAI's, but vLLM, SGLang and Ollama's OpenAI servers take it.
  if (req.top_k !== undefined) out.top_k = req.top_k
  if (typeof req.metadata?.user_id === 'string' && req.metadata.user_id) out.user = req.metadata.user_id
  // Structured output: Anthropic's output_config.format is OpenAI's response_format json_schema.
  const format = (req as { output_config?: { format?: { type?: unknown; schema?: unknown } } }).output_config?.format
  if (format?.type === 'json_schema' && isObj(format.schema)) out.response_format = { type: 'json_schema', json_schema: { name: 'output', schema: format.schema, strict: true } }
  if (req.stream) {
    out.stream = true
    out.stream_options = { include_usage: true }
  }
  return out
}

/** What the model reads (for count_tokens too): model, messages, tools, tool_choice. */
export function toChatPrompt(req: CountTokensRequest): Obj {
  const messages: Obj[] = []
  const system = systemText(req.system)
  if (system) messages.push({ role: 'system', content: system })
  for (const m of req.messages) {
    if (m.role === 'system') messages.push({ role: 'system', content: systemText(m.content as CountTokensRequest['system']) })
    else messages.push(...(m.role === 'assistant' ? assistant(m) : user(m)))
  }
  const out: Obj = { model: req.model, messages }
  const tools = (req.tools ?? []).flatMap((t) => (t.input_schema ? [{ type: 'function', function: fn(t) }] : []))
  if (tools.length) {
    out.tools = tools
    const choice = req.tool_choice
    if (choice) {
      out.tool_choice = choice.type === 'any' ? 'required' : choice.type === 'tool' ? { type: 'function', function: { name: choice.name } } : choice.type
      if ('disable_parallel_tool_use' in choice && choice.disable_parallel_tool_use) out.parallel_tool_calls = false
    }
  }
  return out
}

function fn(t: NonNullable<CountTokensRequest['tools']>[number]): Obj {
  const f: Obj = { name: t.name, parameters: t.input_schema }
  if (t.description !== undefined) f.description = t.description
  return f
}

function systemText(system: CountTokensRequest['system']): string {
  if (system === undefined) return ''
  return typeof system === 'string' ? system : system.map((b) => b.text).join('\n')
}

/**
 * A user turn: its tool results become tool messages, first (chat wants them
 * right after the assistant's tool calls); the rest one user message.
 */
function user(m: Message): Obj[] {
  if (typeof m.content === 'string') return [{ role: 'user', content: m.content }]
  const tools: Obj[] = []
  const parts: Part[] = []
  for (const b of m.content) {
    if (b.type === 'tool_result') {
      const { text, images } = toolResult(b)
      tools.push({ role: 'tool', tool_call_id: b.tool_use_id, content: text })
      // A tool message carries text only: images it returned go to the user turn after it.
      parts.push(...images)
    } else {
      const p = part(b)
      if (p) parts.push(p)
    }
  }
  if (parts.length) tools.push({ role: 'user', content: partsContent(parts) })
  return tools
}

/** One text part is sent as a string: the form every OpenAI-compatible server takes. */
function partsContent(parts: Part[]): string | Part[] {
  return parts.length === 1 && parts[0]!.type === 'text' ? (parts[0]!.text as string) : parts
}

function toolResult(b: Obj): { text: string; images: Part[] } {
  const texts: string[] = []
  const images: Part[] = []
  if (typeof b.content === 'string') texts.push(b.content)
  else if (Array.isArray(b.content)) {
    for (const c of b.content) {
      const p = part(c as Obj)
      if (p?.type === 'text') texts.push(p.text as string)
      else if (p) images.push(p)
    }
  }
  let text = texts.join('\n')
  // Chat has no error flag on a tool result; the model still reads that it failed.
  if (b.is_error === true) text = text ? `Error: ${text}` : 'Error'
  return { text, images }
}

/** A content block as a chat content part; undefined for what chat cannot carry. */
function part(b: Obj): Part | undefined {
  switch (b.type) {
    case 'text':
      return { type: 'text', text: b.text }
    case 'image': {
      const s = b.source as Obj
      if (s.type === 'base64') return { type: 'image_url', image_url: { url: `data:${s.media_type};base64,${s.data}` } }
      if (s.type === 'url') return { type: 'image_url', image_url: { url: s.url } }
      return undefined // a Files API id means nothing to another backend
    }
    case 'document': {
      const s = isObj(b.source) ? b.source : {}
      if (s.type === 'text' && typeof s.data === 'string') return { type: 'text', text: s.data }
      if (s.type === 'base64' && typeof s.data === 'string') {
        const file: Obj = { file_data: `data:${s.media_type};base64,${s.data}` }
        if (typeof b.title === 'string') file.filename = b.title
        return { type: 'file', file }
      }
      return undefined
    }
    default: // thinking, redacted_thinking, server tool blocks, search results
      return undefined
  }
}

/** An assistant turn: its text as content, its tool_use blocks as tool calls. */
function assistant(m: Message): Obj[] {
  if (typeof m.content === 'string') return m.content ? [{ role: 'assistant', content: m.content }] : []
  const text: string[] = []
  const calls: Obj[] = []
  for (const b of m.content) {
    if (b.type === 'text') text.push(b.text as string)
    else if (b.type === 'tool_use') calls.push({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input) } })
  }
  if (!text.length && !calls.length) return []
  const out: Obj = { role: 'assistant', content: text.length ? text.join('') : null }
  if (calls.length) out.tool_calls = calls
  return [out]
}
