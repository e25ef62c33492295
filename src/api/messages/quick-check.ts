// The common case without zod: a check that accepts only what the schemas in
// schema.ts accept (stricter where simpler), so a body it passes needs no
// more, and anything else goes to zod for the error naming the field. zod's
// walk cost ~70 µs for a ten-message tool conversation; this one ~1-2 µs.
type Obj = Record<string, unknown>

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const str = (v: unknown): v is string => typeof v === 'string'
const opt = (v: unknown, ok: (v: unknown) => boolean) => v === undefined || ok(v)
const bool = (v: unknown) => typeof v === 'boolean'
const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v)
const intFrom = (min: number) => (v: unknown) => Number.isSafeInteger(v) && (v as number) >= min
const strings = (v: unknown) => Array.isArray(v) && v.every(str)
const textBlock = (b: unknown) => isObj(b) && b.type === 'text' && str(b.text)
const typed = (b: unknown) => isObj(b) && str(b.type)

function source(s: unknown): boolean {
  if (!isObj(s)) return false
  if (s.type === 'base64') return str(s.media_type) && str(s.data)
  if (s.type === 'url') return str(s.url)
  if (s.type === 'file') return str(s.file_id)
  return false
}

function block(b: unknown): boolean {
  if (!isObj(b)) return false
  switch (b.type) {
    case 'text':
      return str(b.text)
    case 'image':
      return source(b.source)
    case 'tool_use':
      return str(b.id) && str(b.name) && isObj(b.input)
    case 'tool_result':
      return str(b.tool_use_id) && opt(b.content, (c) => str(c) || (Array.isArray(c) && c.every(typed))) && opt(b.is_error, bool)
    default:
      return str(b.type)
  }
}

function message(m: unknown): boolean {
  if (!isObj(m)) return false
  const c = m.content
  if (m.role === 'user' || m.role === 'assistant') return str(c) || (Array.isArray(c) && c.every(block))
  if (m.role === 'system') return str(c) || (Array.isArray(c) && c.every(textBlock))
  return false
}

function tool(t: unknown): boolean {
  if (!isObj(t) || !str(t.name) || !t.name) return false
  if (!opt(t.description, str) || !opt(t.input_schema, isObj)) return false
  if (t.type === undefined || t.type === null || t.type === 'custom') return t.input_schema !== undefined
  return str(t.type)
}

function toolChoice(c: unknown): boolean {
  if (!isObj(c)) return false
  if (c.type === 'auto' || c.type === 'any') return opt(c.disable_parallel_tool_use, bool)
  if (c.type === 'tool') return str(c.name) && opt(c.disable_parallel_tool_use, bool)
  return c.type === 'none'
}

/** True when `b` surely passes countTokensRequest (what the model reads). */
export function quickPrompt(b: unknown): b is Obj {
  return (
    isObj(b) &&
    str(b.model) &&
    b.model.length > 0 &&
    Array.isArray(b.messages) &&
    b.messages.length > 0 &&
    b.messages.every(message) &&
    opt(b.system, (s) => str(s) || (Array.isArray(s) && s.every(textBlock))) &&
    opt(b.tools, (t) => Array.isArray(t) && t.every(tool)) &&
    opt(b.tool_choice, toolChoice)
  )
}

/** True when `b` surely passes messagesRequest. */
export function quickMessages(b: unknown): b is Obj {
  return (
    quickPrompt(b) &&
    intFrom(1)(b.max_tokens) &&
    opt(b.stop_sequences, strings) &&
    opt(b.stream, bool) &&
    opt(b.temperature, num) &&
    opt(b.top_p, num) &&
    opt(b.top_k, intFrom(0)) &&
    opt(b.metadata, (m) => isObj(m) && (m.user_id === undefined || m.user_id === null || str(m.user_id)))
  )
}
