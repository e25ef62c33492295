// One cost record per request, built after the response: tokens from the
// upstream's own usage (estimated, and marked so, when it gave none), the
// price in the backend's currency, and who to bill it to.
import type { Backend, CompiledConfig, Principal, Route } from '../config/compile.ts'
import type { Usage } from '../providers/types.ts'
import { costNano, formatNano, pricesOf } from './cost.ts'
import { countPromptTokens, estimateTextTokens } from './tokens.ts'

export interface CostRecord {
  type: 'cost'
  time: string
  requestId: string
  route: string
  backend: string
  model: string
  inputTokens: number
  outputTokens: number
  cachedInputTokens?: number
  /** Decimal string in `currency`; null when the backend has no prices. */
  cost: string | null
  costNano: number
  currency: string | null
  estimated: boolean
  attribution: Record<string, string>
  latencyMs: number
  ttftMs?: number
  status: number
  attempts: number
  experiment?: string
  variant?: string
}

export function attributionOf(config: CompiledConfig, route: Route, principal: Principal, keyed: boolean, headers: Headers): Record<string, string> {
  const out: Record<string, string> = {}
  if (keyed) out.key = principal.name
  if (principal.team) out.team = principal.team
  const take = (dim: string, header: string) => {
    const v = headers.get(header)
    // A header value never overrides the key's own team: clients cannot bill another team.
    if (v && !(dim === 'team' && principal.team)) out[dim] = v.slice(0, 128)
  }
  for (const dim in config.gateway.attribution) take(dim, config.gateway.attribution[dim]!)
  for (const [dim, header] of route.attribution) take(dim, header)
  return out
}

export interface Served {
  backend: Backend
  usage?: Usage
  /** The whole answer (non-streaming), for an estimate when usage is missing. */
  body?: Record<string, unknown>
  /** Streams: data events seen, about one token each. */
  chunks?: number
  requestBody: Record<string, unknown>
}

/** Usage as the upstream reported it (at once), or an estimate marked as such (counting may wait for the tokenizer). */
export function usageOf(s: Served): { usage: Usage; estimated: boolean } | Promise<{ usage: Usage; estimated: boolean }> {
  const u = s.usage
  if (u && typeof u.prompt_tokens === 'number') return { usage: u, estimated: false }
  return estimatedUsage(s)
}

async function estimatedUsage(s: Served): Promise<{ usage: Usage; estimated: true }> {
  const prompt = await countPromptTokens(s.requestBody, s.backend.model ?? String(s.requestBody.model ?? '')).catch(() => 0)
  let completion = s.chunks ?? 0
  if (s.body) completion = estimateTextTokens(answerText(s.body)).tokens
  return { usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }, estimated: true }
}

type Part = { text?: unknown; content?: unknown }
const texts = (parts: unknown): string => (Array.isArray(parts) ? parts.map((p: Part) => (typeof p?.text === 'string' ? p.text : texts(p?.content))).join('') : '')

/**
 * The answer's text, whatever protocol it is in: the internal form's choices, or a native answer
 * as the client's API shapes it (Anthropic's content blocks, a Response's output items).
 */
function answerText(body: Record<string, unknown>): string {
  if (Array.isArray(body.choices)) {
    return (body.choices as Array<{ message?: { content?: unknown }; text?: unknown }>).map((c) => (typeof c.message?.content === 'string' ? c.message.content : typeof c.text === 'string' ? c.text : '')).join('')
  }
  return texts(body.content ?? body.output)
}

export function costRecord(
  base: Omit<CostRecord, 'type' | 'inputTokens' | 'outputTokens' | 'cachedInputTokens' | 'cost' | 'costNano' | 'currency' | 'estimated' | 'backend'>,
  backend: Backend,
  usage: Usage,
  estimated: boolean,
): CostRecord {
  const nano = costNano(backend, usage) ?? 0
  const cached = (usage as { prompt_tokens_details?: { cached_tokens?: number } }).prompt_tokens_details?.cached_tokens
  const prices = pricesOf(backend)
  // Written out field by field: object spread costs several µs per request here.
  return {
    type: 'cost',
    time: base.time,
    requestId: base.requestId,
    route: base.route,
    model: base.model,
    attribution: base.attribution,
    latencyMs: base.latencyMs,
    ttftMs: base.ttftMs,
    status: base.status,
    attempts: base.attempts,
    experiment: base.experiment,
    variant: base.variant,
    backend: backend.name,
    inputTokens: usage.prompt_tokens ?? 0,
    // Embeddings report no completion tokens.
    outputTokens: usage.completion_tokens ?? 0,
    cachedInputTokens: cached || undefined,
    cost: prices ? formatNano(nano) : null,
    costNano: nano,
    currency: prices?.currency ?? null,
    estimated,
  }
}
