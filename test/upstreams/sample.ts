// A value that fits a JSON Schema, for test upstreams that must answer a
// structured-output request (or a tool call) the way a model would: with JSON
// the client's own schema validator accepts. Covers what zod's JSON Schema
// output and hand-written tool schemas use; not a general generator.
type Schema = Record<string, any>

export function sampleOf(schema: Schema | undefined, name = 'value', defs: Schema = schema?.$defs ?? schema?.definitions ?? {}): unknown {
  if (!schema || typeof schema !== 'object') return name
  if (typeof schema.$ref === 'string') return sampleOf(defs[schema.$ref.split('/').pop()!], name, defs)
  if ('const' in schema) return schema.const
  if (Array.isArray(schema.enum)) return schema.enum[0]
  const alt = schema.anyOf ?? schema.oneOf
  if (Array.isArray(alt)) return sampleOf(alt.find((s: Schema) => s.type !== 'null') ?? alt[0], name, defs)
  if (Array.isArray(schema.allOf)) return sampleOf(Object.assign({}, ...schema.allOf), name, defs)
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== 'null') : schema.type
  switch (type ?? (schema.properties ? 'object' : 'string')) {
    case 'object': {
      const out: Record<string, unknown> = {}
      for (const [k, s] of Object.entries(schema.properties ?? {})) out[k] = sampleOf(s as Schema, k, defs)
      return out
    }
    case 'array':
      return [sampleOf(schema.items, name, defs)]
    case 'integer':
      return Math.max(schema.minimum ?? 21, 21)
    case 'number':
      return Math.max(schema.minimum ?? 21.5, 21.5)
    case 'boolean':
      return true
    case 'null':
      return null
    default:
      return schema.format === 'date-time' ? '2026-12-06T08:00:00Z' : `${name} sample`
  }
}

export const WEATHER_ARGS = { location: 'San Francisco, CA', unit: 'celsius' }

/**
 * The arguments a test model calls `tool` with: a sample of its schema, where
 * the weather tool's location and unit take fixed values (all of WEATHER_ARGS
 * when its schema names no properties).
 */
export function toolArgs(name: string, schema: Schema | undefined): Record<string, unknown> {
  const props = schema?.properties as Schema | undefined
  if (name === 'get_weather' && !props) return { ...WEATHER_ARGS }
  const out = (sampleOf(schema ?? { type: 'object' }, name) ?? {}) as Record<string, unknown>
  if (name === 'get_weather') for (const [k, v] of Object.entries(WEATHER_ARGS)) if (props && k in props) out[k] = v
  return out
}
