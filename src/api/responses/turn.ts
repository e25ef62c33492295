// One Responses turn: what parse learns and respond/stream need (ids, the
// request's settings the Response object echoes, the conversation to store),
// and the Response object's shell, field for field as OpenAI sends it.
import type { Item } from './schema.ts'

export interface Turn {
  /** `resp_<hex>`; every item id of this turn carries the same hex (see itemId). */
  id: string
  hex: string
  /** Unix seconds. */
  createdAt: number
  /** The model the client asked for: the Response says it until the backend names its own. */
  model: string
  /** The request's settings, echoed in every Response object of this turn. */
  echo: Echo
  /** Keep the finished response (OpenAI's default: yes). */
  store: boolean
  /** The conversation before this turn (from previous_response_id), as Responses items. */
  history: Item[]
  /** This turn's input items, with ids, item_references resolved. */
  input: Item[]
  /** Who may read the stored response back. */
  scope: string
}

export interface Echo {
  instructions: string | null
  max_output_tokens: number | null
  parallel_tool_calls: boolean
  previous_response_id: string | null
  reasoning: Record<string, unknown>
  store: boolean
  temperature: number | null
  text: Record<string, unknown>
  tool_choice: unknown
  tools: Item[]
  top_p: number | null
  user: string | null
  metadata: Record<string, string>
}

export type Status = 'in_progress' | 'completed' | 'incomplete' | 'failed'

export interface ResponseUsage {
  input_tokens: number
  input_tokens_details: { cached_tokens: number }
  output_tokens: number
  output_tokens_details: { reasoning_tokens: number }
  total_tokens: number
}

/** 32 random hex digits. */
export function randomHex(): string {
  const b = crypto.getRandomValues(new Uint8Array(16))
  let s = ''
  for (const x of b) s += x.toString(16).padStart(2, '0')
  return s
}

/**
 * An item id that names its response: `msg_<response hex>0<n>` for output item n,
 * `...1<n>` for input item n. An `item_reference` then costs one read of that
 * response, with no index of items to keep.
 */
export const itemId = (prefix: string, hex: string, kind: 'output' | 'input', n: number) => `${prefix}_${hex}${kind === 'output' ? 0 : 1}${n.toString(16)}`

/** The response id an item id of ours names, if it is one. */
export function responseIdOf(item: string): string | undefined {
  const m = /^[a-z]+_([0-9a-f]{32})[01][0-9a-f]+$/.exec(item)
  return m ? `resp_${m[1]}` : undefined
}

export interface Outcome {
  status: Status
  output: Item[]
  model?: string
  usage?: ResponseUsage | null
  error?: { code: string; message: string } | null
  incomplete?: { reason: string } | null
  completedAt?: number | null
}

/** The Response object in OpenAI's field order. `output_text` is not on the wire: the SDKs compute it. */
export function responseObject(t: Turn, o: Outcome): Record<string, unknown> {
  const e = t.echo
  return {
    id: t.id,
    object: 'response',
    created_at: t.createdAt,
    status: o.status,
    background: false,
    completed_at: o.completedAt ?? null,
    error: o.error ?? null,
    incomplete_details: o.incomplete ?? null,
    instructions: e.instructions,
    max_output_tokens: e.max_output_tokens,
    model: o.model ?? t.model,
    output: o.output,
    parallel_tool_calls: e.parallel_tool_calls,
    previous_response_id: e.previous_response_id,
    reasoning: e.reasoning,
    store: e.store,
    temperature: e.temperature,
    text: e.text,
    tool_choice: e.tool_choice,
    tools: e.tools,
    top_p: e.top_p,
    truncation: 'disabled',
    usage: o.usage ?? null,
    user: e.user,
    metadata: e.metadata,
  }
}

/** Chat Completions usage as the Responses API counts it. */
export function toResponseUsage(u: unknown): ResponseUsage | null {
  if (!u || typeof u !== 'object') return null
  const x = u as { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } | null; completion_tokens_details?: { reasoning_tokens?: number } | null }
  const input = x.prompt_tokens ?? 0
  const output = x.completion_tokens ?? 0
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: x.prompt_tokens_details?.cached_tokens ?? 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: x.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: x.total_tokens ?? input + output,
  }
}

/** A chat finish_reason as the Response's status and incomplete_details. */
export function statusOf(finish: unknown): { status: 'completed' | 'incomplete'; incomplete: { reason: string } | null } {
  if (finish === 'length') return { status: 'incomplete', incomplete: { reason: 'max_output_tokens' } }
  if (finish === 'content_filter') return { status: 'incomplete', incomplete: { reason: 'content_filter' } }
  return { status: 'completed', incomplete: null }
}
