// OpenAI chat request -> Mistral chat request. Mistral's API is OpenAI's
// with differences that fail a request (HTTP 422, "Extra inputs are not
// permitted") rather than being ignored, so each is handled here:
// - seed is random_seed; max_completion_tokens is max_tokens;
// - tool_choice "required" is "any";
// - stream_options is refused (Mistral puts usage in its last chunk anyway);
// - OpenAI-only fields (store, user, metadata, logprobs...) are refused;
// - messages take no name (but tool messages), assistants no refusal/annotations/audio;
// - tool call ids must be 9 letters and digits (ids.ts);
// - safe_prompt is the backend's setting.
import type { Backend } from '../../config/compile.ts'
import type { ToolIds } from './ids.ts'

type Obj = Record<string, any>

/** Request fields OpenAI has and Mistral refuses. */
const OPENAI_ONLY = ['stream_options', 'store', 'metadata', 'user', 'service_tier', 'logit_bias', 'logprobs', 'top_logprobs', 'modalities', 'audio', 'reasoning_effort', 'prompt_cache_key', 'safety_identifier', 'verbosity', 'web_search_options', 'functions', 'function_call']

/** Every tool call id in the conversation, for ToolIds.learn. */
export function toolIdsOf(body: Obj): string[] {
  const ids: string[] = []
  for (const m of Array.isArray(body.messages) ? body.messages : []) {
    if (m?.role === 'tool' && typeof m.tool_call_id === 'string') ids.push(m.tool_call_id)
    for (const c of Array.isArray(m?.tool_calls) ? m.tool_calls : []) if (typeof c?.id === 'string') ids.push(c.id)
  }
  return ids
}

function toMessage(m: Obj, ids: ToolIds): Obj {
  switch (m?.role) {
    case 'developer':
      return { role: 'system', content: m.content }
    case 'system':
    case 'user':
      return { role: m.role, content: m.content }
    case 'assistant': {
      const out: Obj = { role: 'assistant', content: m.content ?? '' }
      if (Array.isArray(m.tool_calls) && m.tool_calls.length) {
        out.tool_calls = m.tool_calls.map((c: Obj) => ({ id: ids.out(String(c.id)), type: 'function', function: { name: c.function?.name, arguments: c.function?.arguments ?? '{}' } }))
      }
      if (m.prefix === true) out.prefix = true
      return out
    }
    case 'tool': {
      const out: Obj = { role: 'tool', tool_call_id: ids.out(String(m.tool_call_id)), content: m.content }
      if (typeof m.name === 'string') out.name = m.name
      return out
    }
    default: // unknown roles: Mistral says what is wrong
      return m
  }
}

export function toMistralRequest(body: Obj, backend: Backend, ids: ToolIds): Obj {
  const out: Obj = { ...body }
  for (const k of OPENAI_ONLY) delete out[k]
  if (body.seed != null) {
    delete out.seed
    out.random_seed = body.seed
  }
  if (body.max_completion_tokens != null) {
    delete out.max_completion_tokens
    out.max_tokens ??= body.max_completion_tokens
  }
  if (body.tool_choice === 'required') out.tool_choice = 'any'
  if (Array.isArray(body.messages)) out.messages = body.messages.map((m: Obj) => toMessage(m, ids))
  const safe = backend.spec.external?.safePrompt
  if (safe !== undefined) out.safe_prompt = safe
  return out
}

/** OpenAI embeddings request -> Mistral's: floats always (we encode base64 ourselves), dimensions is output_dimension. */
export function toMistralEmbeddings(body: Obj): Obj {
  const out: Obj = { model: body.model, input: body.input }
  if (typeof body.dimensions === 'number') out.output_dimension = body.dimensions
  return out
}
