// How the core reads an OpenAI Responses event stream when it passes one
// through untouched: which events are preamble, where usage and failures
// are, and how to say the stream failed as OpenAI does (an `error` event
// whose sequence_number follows the last one sent).
import type { StreamDialect, Usage } from '../types.ts'

/** Events before any output: the response opening, and items and parts that open empty. */
const PREAMBLE = new Set(['response.created', 'response.queued', 'response.in_progress', 'response.content_part.added', 'response.reasoning_summary_part.added'])
/** Items that open empty (a function_call opens with its name: content). */
const EMPTY_ITEMS = new Set(['message', 'reasoning'])
const ENDS = new Set(['response.completed', 'response.incomplete', 'response.failed'])

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0)

/** Responses usage (input/output tokens, cached and reasoning details) in the internal Chat Completions form. */
export function responsesUsageToOpenAI(u: Record<string, any>): Usage {
  const prompt = num(u.input_tokens)
  const completion = num(u.output_tokens)
  const usage: Usage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: typeof u.total_tokens === 'number' ? u.total_tokens : prompt + completion,
    prompt_tokens_details: { cached_tokens: num(u.input_tokens_details?.cached_tokens) },
  }
  if (typeof u.output_tokens_details?.reasoning_tokens === 'number') usage.completion_tokens_details = { reasoning_tokens: u.output_tokens_details.reasoning_tokens }
  return usage
}

/** The status OpenAI would have answered a failure with, from its error code, so it is classified as a status would be. */
function statusOf(code: unknown): number {
  if (code === 'rate_limit_exceeded') return 429
  if (code === 'server_error' || code === 'vector_store_timeout' || code == null) return 500
  return 400 // invalid_prompt, image errors, policy refusals: the request's own
}

export function responsesDialect(): StreamDialect {
  let seq = -1
  return {
    errorOf(type, data) {
      if (typeof data.sequence_number === 'number') seq = data.sequence_number
      if (type === 'error') return { status: statusOf(data.code), body: JSON.stringify({ error: { message: data.message, code: data.code ?? undefined, param: data.param ?? undefined } }) }
      if (type !== 'response.failed') return undefined
      const e = data.response?.error ?? {}
      return { status: statusOf(e.code), body: JSON.stringify({ error: { message: e.message ?? 'the response failed', code: e.code ?? undefined } }) }
    },
    isContent(type, data) {
      if (PREAMBLE.has(type)) return false
      if (type === 'response.output_item.added') return !EMPTY_ITEMS.has(data.item?.type)
      return true
    },
    usageOf(type, data) {
      const u = ENDS.has(type) ? data.response?.usage : undefined
      return u && typeof u === 'object' ? responsesUsageToOpenAI(u) : undefined
    },
    isEnd: (type) => ENDS.has(type),
    errorEvent: (message, code) => `event: error\ndata: ${JSON.stringify({ type: 'error', code, message, param: null, sequence_number: ++seq })}`,
  }
}
