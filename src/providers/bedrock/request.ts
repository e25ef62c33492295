// OpenAI chat request -> Bedrock Converse request. The Anthropic translator
// already does the hard part (system apart, tool calls and results as blocks,
// turns merged so roles alternate, the request's values checked); Converse
// blocks are the same things spelled differently, so this maps its output.
import { UpstreamError } from '../errors.ts'
import { toAnthropicRequest, type AnthropicBlock } from '../anthropic/request.ts'

export type ConverseBlock =
  | { text: string }
  | { image: { format: string; source: { bytes: string } } }
  | { document: { format: string; name: string; source: { bytes: string } } }
  | { toolUse: { toolUseId: string; name: string; input: unknown } }
  | { toolResult: { toolUseId: string; content: ConverseBlock[] } }

export interface ConverseRequest {
  messages: Array<{ role: 'user' | 'assistant'; content: ConverseBlock[] }>
  system?: Array<{ text: string }>
  inferenceConfig?: { maxTokens?: number; temperature?: number; topP?: number; stopSequences?: string[] }
  toolConfig?: {
    tools: Array<{ toolSpec: { name: string; description?: string; inputSchema: { json: Record<string, unknown> } } }>
    toolChoice?: { auto: Record<string, never> } | { any: Record<string, never> } | { tool: { name: string } }
  }
}

const invalid = (message: string, param?: string) => new UpstreamError('bad_request', message, undefined, undefined, 'invalid_value', param)

const positiveInt = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined)

/** Translate an OpenAI chat request body (the model id goes in the URL, not here). */
export function toConverseRequest(body: Record<string, unknown>): ConverseRequest {
  const a = toAnthropicRequest(body, false)
  const out: ConverseRequest = { messages: a.messages.map((m) => ({ role: m.role, content: m.content.map(block) })) }
  if (a.system) out.system = [{ text: a.system }]
  const inference: NonNullable<ConverseRequest['inferenceConfig']> = {}
  // Only the client's own limit: each model on Bedrock has its own default and ceiling.
  const max = positiveInt(body.max_completion_tokens) ?? positiveInt(body.max_tokens)
  if (max) inference.maxTokens = max
  if (a.temperature !== undefined) inference.temperature = a.temperature
  if (a.top_p !== undefined) inference.topP = a.top_p
  if (a.stop_sequences?.length) inference.stopSequences = a.stop_sequences
  if (Object.keys(inference).length) out.inferenceConfig = inference

  const history = out.messages.some((m) => m.content.some((b) => 'toolUse' in b || 'toolResult' in b))
  const choice = a.tool_choice
  // Converse has no "none": leave the tools out, unless the history's tool blocks need them declared.
  if (a.tools?.length && (choice?.type !== 'none' || history)) {
    out.toolConfig = {
      tools: a.tools.map((t) => ({ toolSpec: { name: t.name, ...(t.description ? { description: t.description } : {}), inputSchema: { json: t.input_schema } } })),
    }
    if (choice?.type === 'any') out.toolConfig.toolChoice = { any: {} }
    else if (choice?.type === 'tool') out.toolConfig.toolChoice = { tool: { name: choice.name } }
    else if (choice?.type === 'auto') out.toolConfig.toolChoice = { auto: {} }
  }
  return out
}

function block(b: AnthropicBlock): ConverseBlock {
  switch (b.type) {
    case 'text':
      return { text: b.text }
    case 'image': {
      if (b.source.type !== 'base64') throw invalid('image URLs are not supported by Bedrock: send the image as a base64 data: URL', 'messages')
      const format = b.source.media_type.replace(/^image\//, '').replace('jpg', 'jpeg')
      if (!['png', 'jpeg', 'gif', 'webp'].includes(format)) throw invalid(`image type ${b.source.media_type} is not supported by Bedrock`, 'messages')
      return { image: { format, source: { bytes: b.source.data } } }
    }
    case 'document':
      return { document: { format: 'pdf', name: 'document', source: { bytes: b.source.data } } }
    case 'tool_use':
      return { toolUse: { toolUseId: b.id, name: b.name, input: b.input } }
    case 'tool_result': {
      const content = typeof b.content === 'string' ? [{ text: b.content }] : b.content.map(block)
      // Converse wants at least one block in a tool result.
      return { toolResult: { toolUseId: b.tool_use_id, content: content.length ? content : [{ text: '' }] } }
    }
  }
}
