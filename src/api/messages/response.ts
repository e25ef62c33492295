// The internal answer (a chat.completion) -> an Anthropic Message, and the
// pieces the stream encoder shares with it: ids, stop reasons, usage.
// The reverse of src/providers/anthropic/response.ts.

type Obj = Record<string, any>

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** Anthropic-style id: a prefix and 24 random base62 characters. */
export function newId(prefix: 'msg_' | 'toolu_'): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24))
  let s = prefix
  for (const b of bytes) s += ALPHABET[b % 62]
  return s
}

/** An upstream id that already is an Anthropic one (an Anthropic backend's, translated) is kept. */
export const messageId = (upstream: unknown) => (typeof upstream === 'string' && upstream.startsWith('msg_') ? upstream : newId('msg_'))

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'refusal'

/**
 * OpenAI's `stop` covers both a natural end and a stop sequence. vLLM (and
 * SGLang) name the matched sequence in the choice's `stop_reason`; with one
 * of the client's sequences there, we can say `stop_sequence`.
 */
export function stopReason(finish: unknown, matched: unknown, sequences: readonly string[] | undefined): { reason: StopReason; sequence: string | null } {
  switch (finish) {
    case 'length':
      return { reason: 'max_tokens', sequence: null }
    case 'tool_calls':
    case 'function_call':
      return { reason: 'tool_use', sequence: null }
    case 'content_filter':
      return { reason: 'refusal', sequence: null }
    default:
      if (typeof matched === 'string' && sequences?.includes(matched)) return { reason: 'stop_sequence', sequence: matched }
      return { reason: 'end_turn', sequence: null }
  }
}

export interface MessagesUsage {
  input_tokens: number
  output_tokens: number
  cache_creation_input_tokens: number
  cache_read_input_tokens: number
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0)

/**
 * OpenAI counts all input as prompt_tokens, cached included; Anthropic's
 * input_tokens leaves out what was read from or written to the cache.
 * (The Anthropic provider keeps its upstream's cache counts on the usage.)
 */
export function toMessagesUsage(u: Obj | undefined | null): MessagesUsage {
  const prompt = num(u?.prompt_tokens)
  const read = num(u?.cache_read_input_tokens ?? u?.prompt_tokens_details?.cached_tokens)
  const write = num(u?.cache_creation_input_tokens)
  return {
    input_tokens: Math.max(0, prompt - read - write),
    output_tokens: num(u?.completion_tokens),
    cache_creation_input_tokens: write,
    cache_read_input_tokens: read,
  }
}

/** Tool arguments as the input object Anthropic promises; a model's broken JSON becomes {}. */
export function toolInput(args: unknown): Obj {
  if (typeof args !== 'string' || !args.trim()) return isObj(args) ? args : {}
  try {
    const v = JSON.parse(args)
    return isObj(v) ? v : {}
  } catch {
    return {}
  }
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

function textOf(content: unknown): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content.map((p) => (isObj(p) && typeof p.text === 'string' ? p.text : '')).join('')
}

/** A chat.completion as the Message Anthropic would have sent. */
export function toMessage(body: Obj, model: string, sequences?: readonly string[]): Obj {
  const choice = Array.isArray(body.choices) ? (body.choices[0] ?? {}) : {}
  const msg = isObj(choice.message) ? choice.message : {}
  const content: Obj[] = []
  const text = textOf(msg.content)
  if (text) content.push({ type: 'text', text })
  const refusal = typeof msg.refusal === 'string' && msg.refusal ? msg.refusal : ''
  if (refusal) content.push({ type: 'text', text: refusal })
  for (const c of Array.isArray(msg.tool_calls) ? msg.tool_calls : []) {
    if (!isObj(c) || !isObj(c.function)) continue
    content.push({
      type: 'tool_use',
      // The upstream's id: the client sends it back as tool_use_id, and it goes on as tool_call_id.
      id: typeof c.id === 'string' && c.id ? c.id : newId('toolu_'),
      name: String(c.function.name ?? ''),
      input: toolInput(c.function.arguments),
    })
  }
  const stop = refusal && choice.finish_reason === 'stop' ? { reason: 'refusal' as const, sequence: null } : stopReason(choice.finish_reason, choice.stop_reason, sequences)
  return {
    id: messageId(body.id),
    type: 'message',
    role: 'assistant',
    model: typeof body.model === 'string' && body.model ? body.model : model,
    content,
    stop_reason: stop.reason,
    stop_sequence: stop.sequence,
    stop_details: null,
    usage: toMessagesUsage(body.usage),
  }
}
