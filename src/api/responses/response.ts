// A chat.completion -> the Response object OpenAI returns: a message item
// with output_text (or refusal) parts, a function_call item per tool call,
// status `incomplete` when the answer was cut at max_output_tokens.
import type { Item } from './schema.ts'
import { itemId, responseObject, statusOf, toResponseUsage, type Turn } from './turn.ts'

type Obj = Record<string, unknown>

export function toResponse(chat: Obj, t: Turn, nowMs: number): Obj {
  const choice = ((chat.choices as Obj[] | undefined) ?? [])[0] ?? {}
  const msg = (choice.message as Obj | undefined) ?? {}
  const { status, incomplete } = statusOf(choice.finish_reason)
  const calls = (msg.tool_calls as Obj[] | undefined) ?? []
  const output: Item[] = []
  const content: Obj[] = []
  if (typeof msg.content === 'string' && (msg.content || !calls.length)) content.push({ type: 'output_text', annotations: [], text: msg.content })
  if (typeof msg.refusal === 'string' && msg.refusal) content.push({ type: 'refusal', refusal: msg.refusal })
  if (content.length || !calls.length) {
    output.push({ id: itemId('msg', t.hex, 'output', 0), type: 'message', status: status === 'completed' ? 'completed' : 'incomplete', content, role: 'assistant' })
  }
  for (const c of calls) {
    const fn = (c.function as Obj | undefined) ?? {}
    output.push({ id: itemId('fc', t.hex, 'output', output.length), type: 'function_call', status: 'completed', arguments: String(fn.arguments ?? ''), call_id: c.id, name: fn.name })
  }
  return responseObject(t, {
    status,
    output,
    incomplete,
    model: typeof chat.model === 'string' ? chat.model : undefined,
    usage: toResponseUsage(chat.usage),
    completedAt: Math.floor(nowMs / 1000),
  })
}
