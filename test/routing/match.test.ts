// Rule matching, as a table: each row is a rule's match block, a request,
// and whether the rule takes it.
import { describe, expect, it } from 'vitest'
import { compileMatch, type MatchInput } from '../../src/config/compile-route.ts'
import { routeSpec } from '../../src/config/schema.ts'

const matcher = (match: unknown) => compileMatch(routeSpec.parse({ rules: [{ match, backends: [{ name: 'x' }] }] }).rules[0]!.match)

const req = (over: Partial<Omit<MatchInput, 'headers'>> & { headers?: Record<string, string> } = {}): MatchInput => ({
  model: over.model ?? 'gpt-4o',
  path: over.path ?? '/v1/chat/completions',
  headers: new Headers(over.headers ?? {}),
  principal: over.principal ?? { name: 'web-app', team: 'web', tier: 'premium' },
})

const rows: Array<[string, unknown, MatchInput, boolean]> = [
  ['no match block matches everything', undefined, req(), true],
  ['header exact (seed shape)', { headers: { 'x-user-tier': 'premium' } }, req({ headers: { 'x-user-tier': 'premium' } }), true],
  ['header exact, other value', { headers: { 'x-user-tier': 'premium' } }, req({ headers: { 'x-user-tier': 'free' } }), false],
  ['header exact, absent', { headers: { 'x-user-tier': 'premium' } }, req(), false],
  ['header names are case-insensitive', { headers: { 'X-User-Tier': 'premium' } }, req({ headers: { 'x-user-tier': 'premium' } }), true],
  ['header prefix', { headers: { 'x-app': { prefix: 'mobile-' } } }, req({ headers: { 'x-app': 'mobile-ios' } }), true],
  ['header prefix, miss', { headers: { 'x-app': { prefix: 'mobile-' } } }, req({ headers: { 'x-app': 'web' } }), false],
  ['header regex', { headers: { 'x-region': { regex: '^eu-(west|central)-\\d$' } } }, req({ headers: { 'x-region': 'eu-west-1' } }), true],
  ['header regex, miss', { headers: { 'x-region': { regex: '^eu-(west|central)-\\d$' } } }, req({ headers: { 'x-region': 'us-east-1' } }), false],
  ['header present', { headers: { 'x-debug': { present: true } } }, req({ headers: { 'x-debug': '' } }), true],
  ['header present, absent', { headers: { 'x-debug': { present: true } } }, req(), false],
  ['header absent required', { headers: { 'x-debug': { present: false } } }, req(), true],
  ['model exact', { model: 'gpt-4o' }, req(), true],
  ['model exact is not a prefix', { model: 'gpt-4' }, req(), false],
  ['model prefix', { modelPrefix: 'gpt-4' }, req(), true],
  ['model glob', { modelPattern: 'claude-*-opus' }, req({ model: 'claude-3-opus' }), true],
  ['model glob, miss', { modelPattern: 'claude-*-opus' }, req({ model: 'claude-3-sonnet' }), false],
  ['path prefix', { pathPrefix: '/v1/chat' }, req(), true],
  ['path prefix, miss', { pathPrefix: '/v1/embeddings' }, req(), false],
  ['principal team', { principal: { team: 'web' } }, req(), true],
  ['principal team list', { principal: { team: ['ml', 'data'] } }, req(), false],
  ['principal tier', { principal: { tier: ['premium', 'enterprise'] } }, req(), true],
  ['principal without a tier', { principal: { tier: 'premium' } }, req({ principal: { name: 'anonymous' } }), false],
  ['principal name', { principal: { name: 'web-app' } }, req(), true],
  ['all conditions must hold', { modelPrefix: 'gpt-', headers: { 'x-user-tier': 'premium' }, principal: { team: 'web' } }, req({ headers: { 'x-user-tier': 'premium' } }), true],
  ['all conditions must hold, one fails', { modelPrefix: 'gpt-', headers: { 'x-user-tier': 'premium' }, principal: { team: 'ml' } }, req({ headers: { 'x-user-tier': 'premium' } }), false],
]

describe('rule match', () => {
  for (const [name, match, input, expected] of rows) it(name, () => expect(matcher(match)(input)).toBe(expected))

  it('refuses a broken regex, an ambiguous header condition and inverted token bounds at load time', () => {
    const bad = (match: unknown) => routeSpec.safeParse({ rules: [{ match, backends: [{ name: 'x' }] }] }).success
    expect(bad({ headers: { a: { regex: '(' } } })).toBe(false)
    expect(bad({ headers: { a: { exact: 'x', prefix: 'y' } } })).toBe(false)
    expect(bad({ promptTokens: { min: 10, max: 5 } })).toBe(false)
    expect(bad({ promptTokens: {} })).toBe(false)
    expect(bad({ promptTokens: { min: 4000 } })).toBe(true)
  })
})
