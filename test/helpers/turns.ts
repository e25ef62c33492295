// The conversation a backend received, as [{role, text}], whichever protocol
// carried it: an OpenAI chat body (system/developer messages, string or part
// contents) or an Anthropic Messages body (top-level system, text blocks).
// Tool calls and results are left out: tests check those on the body itself.
type Turn = { role: string; text: string }

const textOf = (c: unknown): string =>
  typeof c === 'string'
    ? c
    : Array.isArray(c)
      ? c
          .filter((p) => p && (p.type === 'text' || p.type === 'input_text' || p.type === 'output_text'))
          .map((p) => p.text)
          .join('')
      : ''

export function turns(body: any): Turn[] {
  const out: Turn[] = []
  if (body.system !== undefined) out.push({ role: 'system', text: textOf(body.system) })
  for (const m of body.messages ?? []) {
    const role = m.role === 'developer' ? 'system' : m.role
    if (role === 'tool') continue
    const text = textOf(m.content)
    if (text) out.push({ role, text })
  }
  return out
}
