// How the core reads Anthropic's event stream when it passes one through
// untouched (a Messages client on an Anthropic backend): what is preamble,
// what is content, where usage and failures are, and how to say that the
// stream failed in Anthropic's own words.
import type { StreamDialect, Usage } from '../types.ts'
import { toOpenAIUsage, type AnthropicUsage } from './response.ts'

/** Anthropic's error types and the statuses it sends them with (docs.anthropic.com, "Errors"). */
export const ERROR_STATUS: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
}

/** An Anthropic error event's data: `{"type":"error","error":{"type","message"}}`. */
export function anthropicError(type: string, message: string): string {
  return JSON.stringify({ type: 'error', error: { type, message } })
}

/** Blocks that open empty: nothing for the client until their first delta. */
const EMPTY_START = new Set(['text', 'thinking'])

export function anthropicDialect(): StreamDialect {
  const usage: AnthropicUsage = {}
  return {
    errorOf(type, data) {
      if (type !== 'error') return undefined
      const kind = typeof data.error?.type === 'string' ? data.error.type : 'api_error'
      return { status: ERROR_STATUS[kind] ?? 500, body: JSON.stringify(data) }
    },
    isContent(type, data) {
      switch (type) {
        case 'message_start':
        case 'ping':
        case 'content_block_stop':
          return false
        case 'content_block_start': {
          const b = data.content_block ?? {}
          // A tool_use (or server tool) block names its tool as it opens: that is content.
          return !(EMPTY_START.has(b.type) && !b.text && !b.thinking)
        }
        default: // deltas, message_delta (the stop reason), message_stop, events added later
          return true
      }
    },
    usageOf(type, data): Usage | undefined {
      // message_start holds the input side; message_delta's counts are cumulative.
      const u = type === 'message_start' ? data.message?.usage : type === 'message_delta' ? data.usage : undefined
      if (!u || typeof u !== 'object') return undefined
      for (const [k, v] of Object.entries(u)) if (typeof v === 'number') usage[k] = v
      return toOpenAIUsage(usage)
    },
    isEnd: (type) => type === 'message_stop' || type === 'error',
    errorEvent: (message, _code) => `event: error\ndata: ${anthropicError('api_error', message)}`,
  }
}
