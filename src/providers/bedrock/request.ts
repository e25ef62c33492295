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

/**
 * OpenAI's response_format as a tool for Converse, which has no JSON mode: the model is made to call
 * a tool whose input schema is the requested one, and the tool's input is returned as the message's
 * content (LiteLLM's approach, and Anthropic's documented "JSON mode" with tools). json_object takes
 * any object. Undefined for text or no response_format.
 */
export function structuredOutput(body: Record<string, unknown>): { name: string; description: string; schema: Record<string, unknown> } | undefined {
  const rf = body.response_format as { type?: unknown; json_schema?: { name?: unknown; description?: unknown; schema?: unknown } } | null | undefined
  if (rf == null || rf.type === 'text') return undefined
  if (rf.type !== 'json_object' && rf.type !== 'json_schema') throw invalid('response_format.type must be "text", "json_object" or "json_schema"', 'response_format')
  const js = rf.type === 'json_schema' ? rf.json_schema : undefined
  const schema = js?.schema && typeof js.schema === 'object' && !Array.isArray(js.schema) ? (js.schema as Record<string, unknown>) : { type: 'object', additionalProperties: true, properties: {} }
  // Converse tool names: [a-zA-Z0-9_-]{1,64}, as OpenAI's schema names.
  const name = typeof js?.name === 'string' && /^[a-zA-Z0-9_-]{1,64}$/.test(js.name) ? js.name : 'json_response'
  const description = typeof js?.description === 'string' && js.description ? js.description : 'Give your answer by calling this tool: its input is the answer, a JSON value fitting the schema.'
  return { name, description, schema }
}

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
  const json = structuredOutput(body)
  // Converse refuses a history's tool blocks without a toolConfig: a request that sends the history
  // but no tools (a summary after a tool turn) declares the tools the history used.
  const offered = a.tools?.length ? a.tools : history ? toolsUsed(out.messages) : []
  // Converse has no "none": leave the tools out, unless the history's tool blocks need them declared.
  const tools = offered.length && (choice?.type !== 'none' || history) ? offered : []
  if (tools.length || json) {
    const specs = tools.map((t) => ({ toolSpec: { name: t.name, ...(t.description ? { description: t.description } : {}), inputSchema: { json: t.input_schema } } }))
    out.toolConfig = { tools: specs }
    if (choice?.type === 'any') out.toolConfig.toolChoice = { any: {} }
    else if (choice?.type === 'tool') out.toolConfig.toolChoice = { tool: { name: choice.name } }
    else if (choice?.type === 'auto') out.toolConfig.toolChoice = { auto: {} }
    if (json) {
      if (tools.some((t) => t.name === json.name)) throw invalid(`response_format: the tool name "${json.name}" is taken by one of the request's tools; rename the schema`, 'response_format')
      specs.push({ toolSpec: { name: json.name, description: json.description, inputSchema: { json: json.schema } } })
      // The answer is the JSON tool's input: forced, or among the client's tools some tool (theirs or the JSON one) must be called.
      if (!tools.length || choice?.type === 'none') out.toolConfig.toolChoice = { tool: { name: json.name } }
      else if (!choice || choice.type === 'auto') out.toolConfig.toolChoice = { any: {} }
    }
  }
  return out
}

/** The tools a conversation's toolUse blocks called, declared with an open schema. */
function toolsUsed(messages: ConverseRequest['messages']) {
  const names = new Set(messages.flatMap((m) => m.content.flatMap((b) => ('toolUse' in b ? [b.toolUse.name] : []))))
  return [...names].map((name) => ({ name, description: 'A tool called earlier in this conversation.', input_schema: { type: 'object' } as Record<string, unknown> }))
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
