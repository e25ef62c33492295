// Validates an object against a CRD's structural OpenAPI v3 schema the way
// the API server does for what Kortex's CRDs use: type, properties, required,
// items, additionalProperties, enum, pattern, format (uri, date-time),
// lengths, bounds, min/maxProperties, x-kubernetes-int-or-string,
// x-kubernetes-preserve-unknown-fields. Unknown fields are errors, as with
// kubectl's default (strict) field validation. Used by `npm run k8s:validate`
// and the tests; the real API server stays the authority.
type Json = Record<string, unknown>

export function validateOpenApi(schema: Json, value: unknown, path = ''): string[] {
  const errs: string[] = []
  const at = path || '<root>'
  if (schema['x-kubernetes-int-or-string']) {
    if (!(typeof value === 'string' || Number.isInteger(value))) errs.push(`${at}: must be an integer or a string`)
    return errs
  }
  const type = schema.type as string | undefined
  if (!type) return errs // preserve-unknown-fields leaf: anything goes here
  const actual = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value
  const ok =
    type === 'integer' ? Number.isInteger(value) : type === 'number' ? typeof value === 'number' : type === 'array' ? actual === 'array' : type === 'object' ? actual === 'object' : actual === type
  if (!ok) return [`${at}: must be of type ${type}, got ${actual}`]
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) errs.push(`${at}: must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`)
  if (type === 'string') {
    const s = value as string
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern).test(s)) errs.push(`${at}: ${JSON.stringify(s)} does not match ${schema.pattern}`)
    if (typeof schema.minLength === 'number' && s.length < schema.minLength) errs.push(`${at}: must be at least ${schema.minLength} characters`)
    if (typeof schema.maxLength === 'number' && s.length > schema.maxLength) errs.push(`${at}: must be at most ${schema.maxLength} characters`)
    if (schema.format === 'uri' && !URL.canParse(s)) errs.push(`${at}: must be a URI`)
    if (schema.format === 'date-time' && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i.test(s)) errs.push(`${at}: must be an RFC 3339 date-time`)
  }
  if (type === 'integer' || type === 'number') {
    const n = value as number
    if (typeof schema.minimum === 'number' && (schema.exclusiveMinimum ? n <= schema.minimum : n < schema.minimum)) errs.push(`${at}: must be ${schema.exclusiveMinimum ? '>' : '>='} ${schema.minimum}`)
    if (typeof schema.maximum === 'number' && (schema.exclusiveMaximum ? n >= schema.maximum : n > schema.maximum)) errs.push(`${at}: must be ${schema.exclusiveMaximum ? '<' : '<='} ${schema.maximum}`)
  }
  if (type === 'array') {
    const a = value as unknown[]
    if (typeof schema.minItems === 'number' && a.length < schema.minItems) errs.push(`${at}: must have at least ${schema.minItems} items`)
    if (typeof schema.maxItems === 'number' && a.length > schema.maxItems) errs.push(`${at}: must have at most ${schema.maxItems} items`)
    if (schema.items) a.forEach((v, i) => errs.push(...validateOpenApi(schema.items as Json, v, `${path}[${i}]`)))
  }
  if (type === 'object') {
    const o = value as Json
    const props = (schema.properties ?? {}) as Json
    for (const r of (schema.required as string[]) ?? []) if (!(r in o)) errs.push(`${path ? path + '.' : ''}${r}: Required value`)
    const n = Object.keys(o).length
    if (typeof schema.minProperties === 'number' && n < schema.minProperties) errs.push(`${at}: must have at least ${schema.minProperties} fields`)
    if (typeof schema.maxProperties === 'number' && n > schema.maxProperties) errs.push(`${at}: must have at most ${schema.maxProperties} fields`)
    for (const [k, v] of Object.entries(o)) {
      const p = path ? `${path}.${k}` : k
      if (props[k]) errs.push(...validateOpenApi(props[k] as Json, v, p))
      else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') errs.push(...validateOpenApi(schema.additionalProperties as Json, v, p))
      else if (!schema['x-kubernetes-preserve-unknown-fields'] && schema.properties) errs.push(`${p}: unknown field`)
    }
  }
  return errs
}
