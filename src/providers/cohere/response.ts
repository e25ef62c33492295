// Cohere v2 chat response -> OpenAI chat.completion, and the pieces the
// stream translator shares with it: finish reasons and usage. Citations and
// the tool plan have no OpenAI field: they are dropped, the text is kept.
import { UpstreamError } from '../errors.ts'
import type { Usage } from '../types.ts'

type Obj = Record<string, any>

export interface CohereUsage {
  billed_units?: { input_tokens?: number; output_tokens?: number }
  tokens?: { input_tokens?: number; output_tokens?: number }
}

/** COMPLETE/STOP_SEQUENCE -> stop, MAX_TOKENS -> length, TOOL_CALL -> tool_calls. ERROR is a failure, not a reason. */
export function finishReason(r: unknown): 'stop' | 'length' | 'tool_calls' {
  switch (r) {
    case 'MAX_TOKENS':
      return 'length'
    case 'TOOL_CALL':
      return 'tool_calls'
    default: // COMPLETE, STOP_SEQUENCE
      return 'stop'
  }
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)

/**
 * Cohere bills `billed_units` (the prompt as the user wrote it); `tokens`
 * also counts its own prompt template. Prices apply to billed units, so they
 * are the prompt and completion tokens; `tokens` only where no billed units came.
 */
export function toOpenAIUsage(u: CohereUsage | undefined): Usage | undefined {
  if (!u) return undefined
  const prompt = num(u.billed_units?.input_tokens) ?? num(u.tokens?.input_tokens)
  const completion = num(u.billed_units?.output_tokens) ?? num(u.tokens?.output_tokens)
  if (prompt === undefined && completion === undefined) return undefined
  return { prompt_tokens: prompt ?? 0, completion_tokens: completion ?? 0, total_tokens: (prompt ?? 0) + (completion ?? 0) }
}

export const isCohereChat = (v: unknown): v is Obj => !!v && typeof v === 'object' && typeof (v as Obj).message === 'object' && (v as Obj).message !== null && 'finish_reason' in (v as Obj)

export function toOpenAIResponse(r: Obj, model: string, now = Date.now()): Record<string, unknown> {
  if (r.finish_reason === 'ERROR') throw new UpstreamError('server', 'Cohere ended the generation with ERROR', 200, undefined, 'ERROR')
  const m = r.message ?? {}
  const text = (Array.isArray(m.content) ? m.content : []).filter((c: Obj) => c?.type === 'text' && typeof c.text === 'string').map((c: Obj) => c.text).join('')
  const calls = Array.isArray(m.tool_calls) ? m.tool_calls : []
  const message: Obj = { role: 'assistant', content: text || null, refusal: null }
  if (calls.length) {
    message.tool_calls = calls.map((c: Obj) => ({ id: String(c.id), type: 'function', function: { name: String(c.function?.name), arguments: typeof c.function?.arguments === 'string' ? c.function.arguments : JSON.stringify(c.function?.arguments ?? {}) } }))
  }
  const out: Obj = {
    id: typeof r.id === 'string' ? r.id : `chatcmpl-${crypto.randomUUID()}`,
    object: 'chat.completion',
    created: Math.floor(now / 1000),
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(r.finish_reason) }],
  }
  const usage = toOpenAIUsage(r.usage)
  // No usage: none rather than zeros, so the gateway estimates instead of billing nothing.
  if (usage) out.usage = usage
  return out
}
