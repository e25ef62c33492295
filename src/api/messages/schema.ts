// Request validation for POST /v1/messages and /v1/messages/count_tokens.
// Like the OpenAI schemas, it checks what the translation relies on and the
// types a backend would choke on; every other field passes (loose objects),
// since an Anthropic backend gets the client's body as it came. Errors read
// as Anthropic words them: `max_tokens: Field required`,
// `messages.0.content.1.source: Field required`.
import * as z from 'zod'
import { badRequest } from '../errors.ts'

const text = z.looseObject({ type: z.literal('text'), text: z.string() })

const imageSource = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('base64'), media_type: z.string(), data: z.string() }),
  z.looseObject({ type: z.literal('url'), url: z.string() }),
  z.looseObject({ type: z.literal('file'), file_id: z.string() }),
])

// The blocks the translation reads; any other type (documents, server tool
// blocks, search results) is checked for its `type` only.
const known = {
  text,
  image: z.looseObject({ type: z.literal('image'), source: imageSource }),
  tool_use: z.looseObject({ type: z.literal('tool_use'), id: z.string(), name: z.string(), input: z.record(z.string(), z.unknown()) }),
  tool_result: z.looseObject({
    type: z.literal('tool_result'),
    tool_use_id: z.string(),
    content: z.union([z.string(), z.array(z.looseObject({ type: z.string() }))]).optional(),
    is_error: z.boolean().optional(),
  }),
} as const

const block = z.looseObject({ type: z.string() }).check((ctx) => {
  const schema = known[ctx.value.type as keyof typeof known]
  if (!schema) return
  const r = schema.safeParse(ctx.value)
  if (!r.success) for (const issue of r.error.issues) ctx.issues.push({ ...issue, input: issue.input } as never)
})

// SDK 1.12's MessageParam also takes role 'system' (text only) inside the list.
const message = z.discriminatedUnion('role', [
  z.looseObject({ role: z.enum(['user', 'assistant']), content: z.union([z.string(), z.array(block)]) }),
  z.looseObject({ role: z.literal('system'), content: z.union([z.string(), z.array(text)]) }),
])

// Client tools (no type, or 'custom') need their schema; Anthropic's server
// tools (bash_20250124, web_search_...) carry a versioned type instead.
const tool = z
  .looseObject({
    name: z.string().min(1),
    description: z.string().optional(),
    input_schema: z.looseObject({}).optional(),
    type: z.string().nullish(),
  })
  .check((ctx) => {
    const t = ctx.value
    if ((t.type == null || t.type === 'custom') && t.input_schema === undefined) {
      ctx.issues.push({ code: 'invalid_type', expected: 'object', input: undefined, path: ['input_schema'] })
    }
  })

const toolChoice = z.discriminatedUnion('type', [
  z.looseObject({ type: z.enum(['auto', 'any']), disable_parallel_tool_use: z.boolean().optional() }),
  z.looseObject({ type: z.literal('tool'), name: z.string(), disable_parallel_tool_use: z.boolean().optional() }),
  z.looseObject({ type: z.literal('none') }),
])

const prompt = {
  model: z.string().min(1),
  messages: z.array(message).min(1, 'at least one message is required'),
  system: z.union([z.string(), z.array(text)]).optional(),
  tools: z.array(tool).optional(),
  tool_choice: toolChoice.optional(),
}

export const messagesRequest = z.looseObject({
  ...prompt,
  max_tokens: z.int().min(1),
  stop_sequences: z.array(z.string()).optional(),
  stream: z.boolean().optional(),
  temperature: z.number().optional(),
  top_p: z.number().optional(),
  top_k: z.int().min(0).optional(),
  metadata: z.looseObject({ user_id: z.string().nullish() }).optional(),
})

export const countTokensRequest = z.looseObject(prompt)

export type MessagesRequest = z.infer<typeof messagesRequest>
export type CountTokensRequest = z.infer<typeof countTokensRequest>
export type Message = z.infer<typeof message>
export type Block = z.infer<typeof block>

/** Validate `body` or throw a 400 in Anthropic's words, naming the first bad field. `quick`: the check that lets the common case skip zod. */
export function validateMessages<T>(schema: z.ZodType<T>, body: unknown, quick?: (b: unknown) => boolean): T {
  if (quick?.(body)) return body as T
  const r = schema.safeParse(body, { reportInput: true })
  if (r.success) return r.data
  const issue = deepest(r.error.issues[0]!)
  const path = issue.path.map(String).join('.')
  const what = describe(issue)
  throw badRequest(path ? `${path}: ${what}` : what, path || null)
}

/** In a union (content: string or blocks), the branch that got furthest says what is wrong. */
function deepest(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code !== 'invalid_union' || !issue.errors.length) return issue
  let best: z.core.$ZodIssue | undefined
  for (const branch of issue.errors) {
    const first = branch[0]
    if (first && (!best || first.path.length > best.path.length)) best = first
  }
  if (!best || best.path.length === 0) return issue
  const inner = deepest(best)
  return { ...inner, path: [...issue.path, ...inner.path] }
}

// Pydantic's phrases, which Anthropic's API answers with.
const EXPECTED: Record<string, string> = {
  string: 'a valid string',
  number: 'a valid number',
  int: 'a valid integer',
  boolean: 'a valid boolean',
  array: 'a valid list',
  object: 'a valid dictionary',
  record: 'a valid dictionary',
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return 'Field required'
    return `Input should be ${EXPECTED[issue.expected] ?? issue.expected}`
  }
  if (issue.code === 'too_small' && issue.origin === 'number') return `Input should be greater than or equal to ${issue.minimum}`
  if (issue.code === 'too_small' && issue.origin === 'array') return issue.message
  if (issue.code === 'too_small' && issue.origin === 'string') return 'String should have at least 1 character'
  if (issue.code === 'invalid_value') return `Input should be ${issue.values.map((v) => `'${String(v)}'`).join(' or ')}`
  if (issue.code === 'invalid_union' && 'note' in issue && issue.note === 'No matching discriminator') {
    const key = String(issue.path.at(-1) ?? 'type')
    const input = issue.input as Record<string, unknown> | undefined
    const tag = typeof input === 'object' && input ? input[key] : input
    return `Input tag '${String(tag)}' found using '${key}' does not match any of the expected tags`
  }
  return issue.message
}
