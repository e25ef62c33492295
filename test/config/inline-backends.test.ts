// A route's inline backends (the design article's shape): each becomes an
// InferenceBackend in the route's namespace, with its provider's address and
// credentials by convention; priority is the failover order, weight splits
// one priority level; a clash with a standalone backend is a load error.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { buildConfig } from '../../src/config/source.ts'
import { ConfigError } from '../../src/config/load.ts'
import { planRequest } from '../../src/routing/plan.ts'
import { Fleet } from '../../src/resilience/fleet.ts'
import type { Route } from '../../src/config/compile.ts'
import { parse, parseAllDocuments } from 'yaml'
import { validateOpenApi } from '../../k8s/controller/openapi-validate.ts'

const example = (f: string) => readFileSync(new URL(`../../examples/${f}`, import.meta.url), 'utf8')
const KEYS = { OPENAI_CREDENTIALS_API_KEY: 'test-openai', ANTHROPIC_CREDENTIALS_API_KEY: 'test-ant' }
const env = (vars: Record<string, string> = KEYS) => (n: string) => vars[n]
const plan = async (r: Route, headers: Record<string, string> = {}, random = Math.random) =>
  (await planRequest(r, { model: 'm', path: '/v1/chat/completions', headers: new Headers(headers), principal: { name: 'anonymous' }, body: { messages: [] }, requestId: 'r', now: 0, random }, new Fleet())).backends.map((b) => b.name)

async function refusal(yaml: string): Promise<string> {
  try {
    await buildConfig(yaml, env())
  } catch (e) {
    if (e instanceof ConfigError) return e.message
    throw e
  }
  throw new Error('config was accepted')
}

const route = (backends: string, ns = '') => `apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r${ns ? `, namespace: ${ns}` : ''} }
spec:
  backends:
${backends}`

describe('design-article-router.yaml', () => {
  it('loads clean: providers at their public addresses with the conventional Secrets, KServe at its in-cluster one', async () => {
    const c = await buildConfig(example('design-article-router.yaml'), env())
    expect(c.warnings).toEqual([])
    const gpt = c.backends.get('default/gpt-4')!
    expect(gpt).toMatchObject({ provider: 'openai', baseUrl: 'https://api.openai.com/v1', model: 'gpt-4-turbo', apiKey: 'test-openai', priority: 1 })
    expect(c.backends.get('default/claude-3')).toMatchObject({ provider: 'anthropic', baseUrl: 'https://api.anthropic.com', model: 'claude-3-opus', apiKey: 'test-ant', priority: 2 })
    expect(c.backends.get('default/local-mistral')).toMatchObject({ provider: 'kserve', baseUrl: 'http://mistral-7b-predictor.default.svc.cluster.local/openai/v1', model: 'mistral-7b', priority: 3 })
    const r = c.routes[0]!
    expect(r.fallback).toEqual(['gpt-4', 'claude-3', 'local-mistral'])
    expect(r.failover).toMatchObject({ enabled: true, maxRetries: 2 })
    expect(r.attribution).toEqual([['team', 'X-Team-ID'], ['feature', 'X-Feature-ID']])
    expect(await plan(r)).toEqual(['gpt-4', 'claude-3', 'local-mistral'])
  })

  it('names the missing variable when a provider key is not set', async () => {
    const c = await buildConfig(example('design-article-router.yaml'), env({ OPENAI_CREDENTIALS_API_KEY: 'test-openai' }))
    expect(c.warnings.join('\n')).toContain('set ANTHROPIC_CREDENTIALS_API_KEY')
  })

  it('in a cluster, reads the Secret of that name in the route\'s namespace', async () => {
    const { compileConfig } = await import('../../src/config/compile.ts')
    const { parseConfigText } = await import('../../src/config/load.ts')
    const docs = parseConfigText(route('    - { name: gpt, provider: openai }', 'team-a'))
    const c = await compileConfig(docs, env({}), 'cluster', (ns, ref) => (ns === 'team-a' && ref.name === 'openai-credentials' && ref.key === 'api-key' ? 'test-cluster' : undefined))
    expect(c.backends.get('team-a/gpt')!.apiKey).toBe('test-cluster')
  })
})

describe('design-article-priority-headers.yaml', () => {
  it('X-Priority picks the backend; without it the next level serves; a failed choice moves down a level', async () => {
    const c = await buildConfig(example('design-article-priority-headers.yaml'), env())
    expect(c.warnings).toEqual([])
    const r = c.routes[0]!
    expect(await plan(r, { 'x-priority': 'high' })).toEqual(['gpt-4', 'claude-3'])
    expect(await plan(r, { 'X-Priority': 'low' })).toEqual(['local-mistral', 'claude-3'])
    expect(await plan(r)).toEqual(['claude-3'])
    expect(await plan(r, { 'x-priority': 'urgent' })).toEqual(['claude-3'])
  })
})

describe('inline backends', () => {
  it('split one priority level by weight, and a weight of 0 drains a backend', async () => {
    const c = await buildConfig(route(`    - { name: a, provider: openai, weight: 80, priority: 1 }
    - { name: b, provider: openai, weight: 20, priority: 1 }
    - { name: c, provider: anthropic, weight: 0, priority: 1 }
    - { name: d, provider: anthropic, priority: 2 }`), env())
    const r = c.routes[0]!
    const firsts: string[] = []
    for (let i = 0; i < 100; i++) firsts.push((await plan(r, {}, () => (i + 0.5) / 100))[0]!)
    expect(firsts.filter((n) => n === 'a')).toHaveLength(80)
    expect(firsts.filter((n) => n === 'b')).toHaveLength(20)
    expect(await plan(r, {}, () => 0.9)).toEqual(['b', 'a', 'c', 'd'])
  })

  it('take a url and apiKeySecret of their own', async () => {
    const c = await buildConfig(route(`    - { name: a, provider: mistral, url: "http://127.0.0.1:9/v1", apiKeySecret: { name: my-mistral, key: token } }
    - { name: k, type: kserve, inferenceService: llama, namespace: models, url: "http://llama.example" }`), env({ MY_MISTRAL_TOKEN: 'mk' }))
    expect(c.backends.get('default/a')).toMatchObject({ provider: 'mistral', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'mk' })
    expect(c.backends.get('default/k')).toMatchObject({ provider: 'kserve', baseUrl: 'http://llama.example/openai/v1', model: 'llama' })
  })

  it('mix with rules: the route\'s own rules come first', async () => {
    const c = await buildConfig(`${route('    - { name: inl, provider: openai }')}
  rules:
    - match: { headers: { x-tier: premium } }
      backends: [{ name: std }]
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: std }
spec: { type: demo }
`, env())
    const r = c.routes[0]!
    expect((await plan(r, { 'x-tier': 'premium' }))[0]).toBe('std')
    expect((await plan(r))[0]).toBe('inl')
  })

  it('a name shared with a standalone InferenceBackend, or another route\'s inline one, is refused naming both', async () => {
    const standalone = `${route('    - { name: gpt-4, provider: openai }')}
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: gpt-4 }
spec: { type: demo }
`
    expect(await refusal(standalone)).toMatch(/spec\.backends\[0\]\.name.*backend "gpt-4" of InferenceRoute r clashes with InferenceBackend gpt-4 in namespace default/)
    const twoRoutes = `${route('    - { name: gpt-4, provider: openai }')}
---
${route('    - { name: gpt-4, provider: openai }').replace('name: r', 'name: r2')}`
    expect(await refusal(twoRoutes)).toMatch(/backend "gpt-4" of InferenceRoute r2 clashes with the inline backend of InferenceRoute r in namespace default/)
    // Other namespaces are other names.
    await expect(buildConfig(`${route('    - { name: gpt-4, provider: openai }')}\n---\n${route('    - { name: gpt-4, provider: openai }', 'other')}`, env())).resolves.toBeTruthy()
  })

  it('are refused when they say neither a provider nor a kserve service, or name one twice', async () => {
    expect(await refusal(route('    - { name: a, model: gpt-4 }'))).toMatch(/spec\.backends\[0\]\.provider.*give a provider/)
    expect(await refusal(route('    - { name: a, type: kserve }'))).toMatch(/inferenceService/)
    expect(await refusal(route('    - { name: a, provider: openai }\n    - { name: a, provider: anthropic }'))).toMatch(/listed twice/)
    expect(await refusal(route('    - { name: a, provider: openai, colour: blue }'))).toMatch(/colour/)
  })

  it('the README\'s example: X-Priority: low starts at priority 0, every other request at gpt-4', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes('name: production-router'))!
    const r = (await buildConfig(block, env())).routes[0]!
    expect(await plan(r, { 'x-priority': 'low' })).toEqual(['gpt-4-mini', 'gpt-4', 'claude-3', 'local-mistral'])
    expect(await plan(r)).toEqual(['gpt-4', 'claude-3', 'local-mistral'])
  })

  it('the committed InferenceRoute CRD takes both examples\' routes as written, and refuses a misspelt field', () => {
    const crd = parse(readFileSync(new URL('../../k8s/crds/inferenceroutes.gateway.kortex.io.yaml', import.meta.url), 'utf8'))
    const schema = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec
    for (const f of ['design-article-router.yaml', 'design-article-priority-headers.yaml']) {
      const r = parseAllDocuments(example(f)).map((d) => d.toJS()).find((d) => d.kind === 'InferenceRoute')
      expect(validateOpenApi(schema, r.spec)).toEqual([])
    }
    expect(validateOpenApi(schema, { backends: [{ name: 'a', provider: 'openai', wieght: 5 }] })).toEqual(['backends[0].wieght: unknown field'])
  })

  it('secretRefsOfRoute lists the Secrets a controller must fetch for a route: conventional or named, none for kserve', async () => {
    const { secretRefsOfRoute } = await import('../../src/config/schema.ts')
    expect(secretRefsOfRoute({ backends: [{ name: 'a', provider: 'OpenAI' }, { name: 'b', provider: 'anthropic', apiKeySecret: { name: 'ant', key: 'k' } }, { name: 'c', type: 'kserve', inferenceService: 'x' }] })).toEqual([
      { name: 'openai-credentials', key: 'api-key' },
      { name: 'ant', key: 'k' },
    ])
    expect(secretRefsOfRoute({})).toEqual([])
  })
})
