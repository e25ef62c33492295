// Anthropic message -> OpenAI chat.completion, and the pieces the stream
// translator shares with it: finish reasons and usage.
import type { Usage } from '../types.ts'

export interface AnthropicUsage {
  input_tokens?: number | null
  output_tokens?: number | null
  cache_creation_input_tokens?: number | null
  cache_read_input_tokens?: number | null
  [k: string]: unknown
}

export interface AnthropicResponse {
  id: string
  type: 'message'
  role: 'assistant'
  model: string
  content: Array<{ type: string; text?: string; id?: string; name?: string; input?: unknown }>
  stop_reason: string | null
  stop_sequence?: string | null
  usage?: AnthropicUsage
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter'

export function finishReason(stop: string | null | undefined): FinishReason {
  switch (stop) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length'
    case 'tool_use':
      return 'tool_calls'
    case 'refusal':
      return 'content_filter'
    default: // end_turn, stop_sequence, pause_turn
      return 'stop'
  }
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0)

/** Anthropic counts cached input apart from input_tokens; OpenAI counts all input as prompt tokens. */
export function toOpenAIUsage(u: AnthropicUsage | undefined): Usage {
  const input = num(u?.input_tokens)
  const cacheRead = num(u?.cache_read_input_tokens)
  const cacheWrite = num(u?.cache_creation_input_tokens)
  const prompt = input + cacheRead + cacheWrite
  const completion = num(u?.output_tokens)
  const usage: Usage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cacheRead },
  }
  if (u?.cache_read_input_tokens != null) usage.cache_read_input_tokens = cacheRead
  if (u?.cache_creation_input_tokens != null) usage.cache_creation_input_tokens = cacheWrite
  return usage
}

export function isAnthropicMessage(v: unknown): v is AnthropicResponse {
  const m = v as AnthropicResponse | null
  return !!m && typeof m === 'object' && m.type === 'message' && Array.isArray(m.content)
}

export function toOpenAIResponse(msg: AnthropicResponse, fallbackModel: string, now = Date.now()): Record<string, unknown> {
  const text: string[] = []
  const toolCalls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> = []
  for (const block of msg.content) {
    if (block.type === 'text' && typeof block.text === 'string') text.push(block.text)
    else if (block.type === 'tool_use') {
      toolCalls.push({ id: String(block.id), type: 'function', function: { name: String(block.name), arguments: JSON.stringify(block.input ?? {}) } })
    }
    // thinking, redacted_thinking and server tool blocks have no OpenAI counterpart.
  }
  const message: Record<string, unknown> = { role: 'assistant', content: text.length ? text.join('') : null, refusal: null }
  if (toolCalls.length) message.tool_calls = toolCalls
  return {
    id: msg.id,
    object: 'chat.completion',
    created: Math.floor(now / 1000),
    model: msg.model || fallbackModel,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(msg.stop_reason) }],
    usage: toOpenAIUsage(msg.usage),
  }
}
