// Bedrock Converse answer -> OpenAI chat.completion, and the pieces the
// stream translator shares: stop reasons and usage.
import type { Usage } from '../types.ts'

export interface ConverseUsage {
  inputTokens?: number
  outputTokens?: number
  totalTokens?: number
  cacheReadInputTokens?: number
  cacheWriteInputTokens?: number
}

export interface ConverseResponse {
  output: { message?: { role: string; content: Array<Record<string, any>> } }
  stopReason?: string
  usage?: ConverseUsage
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter'

export function finishReason(stop: string | null | undefined): FinishReason {
  switch (stop) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length'
    case 'tool_use':
      return 'tool_calls'
    case 'guardrail_intervened':
    case 'content_filtered':
      return 'content_filter'
    default: // end_turn, stop_sequence, malformed_* (the text so far is all there is)
      return 'stop'
  }
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0)

/** Bedrock counts cache reads and writes apart from inputTokens; OpenAI counts all input as prompt tokens. */
export function toOpenAIUsage(u: ConverseUsage | undefined): Usage {
  const read = num(u?.cacheReadInputTokens)
  const write = num(u?.cacheWriteInputTokens)
  const prompt = num(u?.inputTokens) + read + write
  const completion = num(u?.outputTokens)
  const usage: Usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: read } }
  // The names the cost module and telemetry already read (Anthropic's): writes are priced apart.
  if (u?.cacheReadInputTokens != null) usage.cache_read_input_tokens = read
  if (u?.cacheWriteInputTokens != null) usage.cache_creation_input_tokens = write
  return usage
}

export function isConverseResponse(v: unknown): v is ConverseResponse {
  const r = v as ConverseResponse | null
  return !!r && typeof r === 'object' && !!r.output && typeof r.output === 'object' && Array.isArray(r.output.message?.content)
}

/** `jsonTool`: the tool a response_format rides on (request.ts); its input is the answer's content, not a tool call. */
export function toOpenAIResponse(r: ConverseResponse, model: string, now = Date.now(), jsonTool?: string): Record<string, unknown> {
  const text: string[] = []
  const toolCalls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> = []
  let json: string | undefined
  for (const b of r.output.message!.content) {
    if (typeof b.text === 'string') text.push(b.text)
    else if (jsonTool && b.toolUse?.name === jsonTool) json = JSON.stringify(b.toolUse.input ?? {})
    else if (b.toolUse && typeof b.toolUse === 'object') {
      toolCalls.push({ id: String(b.toolUse.toolUseId), type: 'function', function: { name: String(b.toolUse.name), arguments: JSON.stringify(b.toolUse.input ?? {}) } })
    }
    // reasoningContent, citations, guardContent: nothing OpenAI's chat shape carries.
  }
  // The JSON is the whole answer: text the model wrote before calling the tool is not part of it.
  const content = json ?? (text.length ? text.join('') : null)
  const message: Record<string, unknown> = { role: 'assistant', content, refusal: null }
  if (toolCalls.length) message.tool_calls = toolCalls
  const finish = json !== undefined && !toolCalls.length && r.stopReason === 'tool_use' ? 'stop' : finishReason(r.stopReason)
  return {
    id: `chatcmpl-${crypto.randomUUID()}`,
    object: 'chat.completion',
    created: Math.floor(now / 1000),
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
    usage: toOpenAIUsage(r.usage),
  }
}
