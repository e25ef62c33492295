// Request validation with zod, for every API the gateway serves: a body that
// fails is refused with a 400 naming the first bad field, the way OpenAI
// names params (`messages[0].content`). The schemas live with their API.
import type * as z from 'zod'
import { badRequest } from './errors.ts'

/** A dotted path the way OpenAI names params: `messages[0].content`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p)
  return out
}

/** Validate a parsed body; throws a 400 naming the first bad field. `quick`: the check that lets the common case skip zod. */
export function validate<T>(schema: z.ZodType<T>, body: unknown, quick?: (b: unknown) => boolean): T {
  if (quick?.(body)) return body as T
  const r = schema.safeParse(body, { reportInput: true })
  if (r.success) return r.data
  const issue = r.error.issues[0]!
  const param = formatPath(issue.path)
  const what = issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : describe(issue)
  throw badRequest(param ? `Invalid request: '${param}' ${what}` : `Invalid request: ${issue.message}`, param || null, 'invalid_value')
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') return `must be ${issue.expected}, got ${kindOf(issue.input)}`
  return `is invalid: ${issue.message}`
}

function kindOf(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  return typeof v
}
