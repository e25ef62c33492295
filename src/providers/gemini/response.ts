// Gemini GenerateContentResponse -> OpenAI chat.completion, and the pieces
// the stream translator shares with it: finish reasons, usage, blocks.
import { UpstreamError } from '../errors.ts'
import type { Usage } from '../types.ts'

type Obj = Record<string, any>

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter'

/** Gemini's finishReason; a candidate that called a function finishes with tool_calls whatever it says. */
export function finishReason(reason: unknown, calledTool: boolean): FinishReason {
  if (calledTool) return 'tool_calls'
  switch (reason) {
    case 'MAX_TOKENS':
      return 'length'
    case 'SAFETY':
    case 'RECITATION':
    case 'BLOCKLIST':
    case 'PROHIBITED_CONTENT':
    case 'SPII':
    case 'IMAGE_SAFETY':
      return 'content_filter'
    default: // STOP, LANGUAGE, OTHER, MALFORMED_FUNCTION_CALL, FINISH_REASON_UNSPECIFIED
      return 'stop'
  }
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0)

/**
 * promptTokenCount already includes the cached part (cachedContentTokenCount);
 * thinking tokens are output billed apart from the candidates, as OpenAI's
 * reasoning tokens are part of completion_tokens.
 */
export function toOpenAIUsage(u: Obj | undefined): Usage {
  const prompt = num(u?.promptTokenCount) + num(u?.toolUsePromptTokenCount)
  const thoughts = num(u?.thoughtsTokenCount)
  const completion = num(u?.candidatesTokenCount) + thoughts
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: num(u?.cachedContentTokenCount) },
    completion_tokens_details: { reasoning_tokens: thoughts },
  }
}

/** A prompt Gemini refused to answer: no candidates, promptFeedback.blockReason set. */
export function blockedPrompt(r: Obj): UpstreamError | undefined {
  const reason = r?.promptFeedback?.blockReason
  if (typeof reason !== 'string' || (Array.isArray(r.candidates) && r.candidates.length)) return undefined
  return new UpstreamError('content_policy', `The prompt was blocked by the provider's safety filters (${reason})`, 400, undefined, 'content_policy_violation')
}

/** A Gemini error object ({"error": {...}}) sent where an answer should be. */
export const isGoogleError = (o: Obj) => !!o && typeof o.error === 'object' && o.error !== null

/**
 * Gemini 3 refuses a history whose function calls lack the thoughtSignature
 * it sent with them; OpenAI has no field for it, so it rides in the tool
 * call's id, which clients send back as it came.
 */
export const THOUGHT_SIGNATURE_SEP = '__thought__'

export interface ToolCall {
  id: string
  type: 'function'
  function: { name: string; arguments: string }
}

/** The text and function calls of a candidate's parts; thought parts are not the answer. */
export function readParts(parts: unknown): { text: string; calls: ToolCall[] } {
  let text = ''
  const calls: ToolCall[] = []
  if (!Array.isArray(parts)) return { text, calls }
  for (const p of parts as Obj[]) {
    if (!p || p.thought === true) continue
    if (typeof p.text === 'string') text += p.text
    else if (p.functionCall && typeof p.functionCall.name === 'string') {
      const base = typeof p.functionCall.id === 'string' && p.functionCall.id ? p.functionCall.id : `call_${crypto.randomUUID().replace(/-/g, '')}`
      const sig = typeof p.thoughtSignature === 'string' ? p.thoughtSignature : p.functionCall.thoughtSignature
      const id = typeof sig === 'string' && sig ? `${base}${THOUGHT_SIGNATURE_SEP}${sig}` : base
      calls.push({ id, type: 'function', function: { name: p.functionCall.name, arguments: JSON.stringify(p.functionCall.args ?? {}) } })
    }
  }
  return { text, calls }
}

export function isGenerateContentResponse(v: unknown): v is Obj {
  const o = v as Obj | null
  return !!o && typeof o === 'object' && (Array.isArray(o.candidates) || typeof o.promptFeedback === 'object' || typeof o.usageMetadata === 'object')
}

export function toOpenAIResponse(r: Obj, model: string, now = Date.now()): Record<string, unknown> {
  const blocked = blockedPrompt(r)
  if (blocked) throw blocked
  const cand = Array.isArray(r.candidates) ? (r.candidates[0] as Obj | undefined) : undefined
  const { text, calls } = readParts(cand?.content?.parts)
  const message: Record<string, unknown> = { role: 'assistant', content: text || (calls.length ? null : ''), refusal: null }
  if (calls.length) message.tool_calls = calls
  const out: Record<string, unknown> = {
    id: typeof r.responseId === 'string' && r.responseId ? `chatcmpl-${r.responseId}` : `chatcmpl-${crypto.randomUUID()}`,
    object: 'chat.completion',
    created: Math.floor(now / 1000),
    model: typeof r.modelVersion === 'string' && r.modelVersion ? r.modelVersion : model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(cand?.finishReason, calls.length > 0) }],
  }
  // Without usageMetadata, none rather than zeros: the gateway estimates it instead of billing nothing.
  if (r.usageMetadata && typeof r.usageMetadata === 'object') out.usage = toOpenAIUsage(r.usageMetadata)
  return out
}
