// Globs on model names: `gpt-4*`, `claude-?-opus`, `*`. Compiled once each.
const cache = new Map<string, RegExp>()

export function globMatch(pattern: string, value: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern === value
  let re = cache.get(pattern)
  if (!re) {
    const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
    re = new RegExp(`^${body}$`)
    if (cache.size > 1000) cache.clear()
    cache.set(pattern, re)
  }
  return re.test(value)
}

export const anyGlob = (patterns: readonly string[], value: string) => patterns.some((p) => globMatch(p, value))
