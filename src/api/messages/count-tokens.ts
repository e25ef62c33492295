// POST /v1/messages/count_tokens: the prompt's size as the gateway's
// tokenizer counts it (the same count token limits and routing rules use),
// after the same translation a request gets. For Claude models this is
// cl100k_base's count, an approximation (see src/usage/tokens.ts); an
// Anthropic backend's own count would need the call forwarded.
import { countPromptTokens } from '../../usage/tokens.ts'
import { toChatPrompt } from './request.ts'
import { quickPrompt } from './quick-check.ts'
import { countTokensRequest, validateMessages } from './schema.ts'

/** `{input_tokens}` for a Messages-shaped body; a 400 in Anthropic's words when it is not one. */
export async function countTokens(json: unknown): Promise<{ input_tokens: number }> {
  const req = validateMessages(countTokensRequest, json, quickPrompt)
  return { input_tokens: await countPromptTokens(toChatPrompt(req), req.model) }
}
