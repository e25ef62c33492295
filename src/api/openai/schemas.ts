// Request validation for the OpenAI endpoints. The schemas check only what
// the gateway itself relies on and the types a backend would choke on;
// every other field passes through untouched (loose objects).
import * as z from 'zod'

const message = z.looseObject({
  role: z.string(),
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string() })), z.null()]).optional(),
})

const common = {
  model: z.string().min(1),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  max_tokens: z.int().min(1).nullish(),
  max_completion_tokens: z.int().min(1).nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  n: z.int().min(1).nullish(),
  stop: z.union([z.string(), z.array(z.string())]).nullish(),
  user: z.string().nullish(),
}

export const chatRequest = z.looseObject({
  ...common,
  messages: z.array(message).min(1),
  tools: z.array(z.looseObject({ type: z.string() })).nullish(),
})

export const completionRequest = z.looseObject({
  ...common,
  prompt: z.union([z.string(), z.array(z.string()), z.array(z.int()), z.array(z.array(z.int()))]),
})

export const embeddingRequest = z.looseObject({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(z.string()), z.array(z.int()), z.array(z.array(z.int()))]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.int().min(1).optional(),
})

export type ChatRequest = z.infer<typeof chatRequest>
export type CompletionRequest = z.infer<typeof completionRequest>
export type EmbeddingRequest = z.infer<typeof embeddingRequest>

// The common case without zod: a check that accepts only what the schemas above
// accept (stricter where that is simpler), so a request it passes needs no more,
// and anything else goes to zod for the error that names the field. zod's walk
// cost ~20 µs of a proxied request; this one ~1 µs.
type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const absent = (v: unknown) => v === undefined || v === null
const optBool = (v: unknown) => absent(v) || typeof v === 'boolean'
const optNum = (v: unknown) => absent(v) || (typeof v === 'number' && Number.isFinite(v))
const optPosInt = (v: unknown) => absent(v) || (Number.isSafeInteger(v) && (v as number) >= 1)
const optStr = (v: unknown) => absent(v) || typeof v === 'string'
const typed = (v: unknown) => isObj(v) && typeof v.type === 'string'

function commonOk(b: Obj): boolean {
  return (
    typeof b.model === 'string' &&
    b.model.length > 0 &&
    optBool(b.stream) &&
    (absent(b.stream_options) || (isObj(b.stream_options) && optBool(b.stream_options.include_usage))) &&
    optPosInt(b.max_tokens) &&
    optPosInt(b.max_completion_tokens) &&
    optNum(b.temperature) &&
    optNum(b.top_p) &&
    optPosInt(b.n) &&
    (absent(b.stop) || typeof b.stop === 'string' || (Array.isArray(b.stop) && b.stop.every((x) => typeof x === 'string'))) &&
    optStr(b.user)
  )
}

function messageOk(m: unknown): boolean {
  if (!isObj(m) || typeof m.role !== 'string') return false
  const c = m.content
  return c === undefined || c === null || typeof c === 'string' || (Array.isArray(c) && c.every(typed))
}

/** True when `body` surely passes the chat schema. */
export const quickChat = (b: unknown): b is Obj =>
  isObj(b) && commonOk(b) && Array.isArray(b.messages) && b.messages.length > 0 && b.messages.every(messageOk) && (absent(b.tools) || (Array.isArray(b.tools) && b.tools.every(typed)))
