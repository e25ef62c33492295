import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { backendSpec, gatewaySpec, routeSpec } from '../../src/config/schema.ts'
import { describe, expect, it } from 'vitest'
import { parseConfigText, ConfigError } from '../../src/config/load.ts'
import { compileConfig, secretEnvName } from '../../src/config/compile.ts'
import { buildConfig } from '../../src/config/source.ts'
import { DEFAULT_CONFIG_YAML } from '../../src/config/default.ts'
import { planRequest } from '../../src/routing/plan.ts'
import { Fleet } from '../../src/resilience/fleet.ts'
import type { Route } from '../../src/config/compile.ts'

const example = (f: string) => readFileSync(new URL(`../../examples/${f}`, import.meta.url), 'utf8')
const plan = async (r: Route, headers: Record<string, string>, random = Math.random) =>
  (await planRequest(r, { model: 'gpt-4o', path: '/v1/chat/completions', headers: new Headers(headers), principal: { name: 'anonymous' }, body: { messages: [] }, requestId: crypto.randomUUID(), now: 0, random }, new Fleet())).backends.map((b) => b.name)
const env = (vars: Record<string, string> = {}) => (n: string) => vars[n]

function refused(text: string): ConfigError {
  try {
    parseConfigText(text)
  } catch (e) {
    if (e instanceof ConfigError) return e
    throw e
  }
  throw new Error('config was accepted')
}

describe('the examples load', () => {
  it('production.yaml (gateway.kortex.io dialect, capitalised enums)', async () => {
    const c = await buildConfig(example('production.yaml'), env({ OPENAI_CREDENTIALS_API_KEY: 'test-a', ANTHROPIC_CREDENTIALS_API_KEY: 'test-b', KORTEX_API_KEY: 'kx-1234567890' }))
    const gpt = c.backends.get('default/openai-gpt4')!
    expect(gpt.provider).toBe('openai')
    expect(gpt.baseUrl).toBe('https://api.openai.com/v1')
    expect(gpt.apiKey).toBe('test-a')
    expect(gpt.spec.cost).toEqual({ inputTokenCost: '0.03', outputTokenCost: '0.06', currency: 'USD' })
    expect(c.backends.get('default/anthropic-claude')!.provider).toBe('anthropic')
    expect(c.backends.get('default/local-mistral')!.baseUrl).toBe('http://mistral-7b-predictor.models.svc.cluster.local/openai/v1')
    const r = c.routes[0]!
    expect(r.fallback).toEqual(['anthropic-claude', 'local-mistral'])
    expect(r.failover.attemptTimeoutMs).toBe(30_000) // the seed default
    expect(c.keys.size).toBe(1)
    expect(c.warnings).toEqual([])
  })

  it('chatbot.yaml (gateway.inference-gateway.io dialect): header rule, fallback, rate limit', async () => {
    const c = await buildConfig(example('chatbot.yaml'), env())
    const r = c.routes[0]!
    expect(r.spec.rateLimit).toEqual({ requestsPerMinute: 100, perUser: true, userHeader: 'x-user-id' })
    expect(r.failover.attemptTimeoutMs).toBe(10_000)
    expect(await plan(r, { 'x-user-tier': 'premium' })).toEqual(['openai-gpt4', 'local-mistral', 'anthropic-claude'])
    expect(await plan(r, {})).toEqual(['local-mistral', 'anthropic-claude', 'openai-gpt4'])
    // Missing secrets are warnings naming the variable, not refusals.
    expect(c.warnings.join('\n')).toContain('OPENAI_CREDENTIALS_API_KEY')
    expect(c.backends.get('default/openai-gpt4')!.missingSecret).toBe('OPENAI_CREDENTIALS_API_KEY')
  })

  it('all-fields.yaml: every seed field loads and means what it says', async () => {
    const c = await buildConfig(example('all-fields.yaml'), env())
    const b = (n: string) => c.backends.get(`ai/${n}`)!
    expect(b('gpt-4').spec.healthCheck).toEqual({ path: '/v1/models', intervalSeconds: 15, timeoutSeconds: 2, failureThreshold: 5, healthyThreshold: 1 })
    expect(b('gpt-4').timeoutMs).toBe(45_000)
    expect(b('gpt-4').maxConcurrency).toBe(50)
    expect(b('gpt-4').priority).toBe(1)
    expect(b('gpt-4').spec.cost?.requestCost).toBe('0.0001')
    expect(b('claude-3').baseUrl).toBe('https://api.anthropic.com')
    expect(b('azure-gpt').provider).toBe('azure-openai')
    expect(b('cohere').baseUrl).toBe('https://api.cohere.ai/compatibility/v1')
    expect(b('llama-kserve').baseUrl).toBe('http://llama-3-70b-predictor.models.svc.cluster.local/openai/v1')
    expect(b('llama-kserve').model).toBe('llama-3-70b')
    expect(b('llama-vllm-runtime').baseUrl).toBe('http://llama-3-8b-predictor.ai.svc.cluster.local/v1')
    expect(b('iris').spec.kserve?.protocol).toBe('v2')
    expect(b('ollama').baseUrl).toBe('http://ollama.llm.svc.cluster.local:11434/v1')
    expect(b('vllm').baseUrl).toBe('http://vllm.ai.svc.cluster.local:8080/v1')
    // Defaults from the seed CRDs.
    expect(b('vllm').timeoutMs).toBe(60_000)
    expect(b('vllm').maxConcurrency).toBe(100)
    expect(b('vllm').priority).toBe(0)
    const main = c.routes.find((r) => r.name === 'main')!
    // Weight 0 stays 0 and trafficPercent 0 stays 0 (the old operator read them as 100 and 10).
    expect(main.rules[0]!.backends.map((x) => x.weight)).toEqual([80, 20, 0])
    expect(main.spec.experiments[0]!.trafficPercent).toBe(0)
    expect(main.spec.experiments[1]).toMatchObject({ trafficPercent: 10, metric: 'latency_p95' })
    expect(main.spec.rateLimit?.userHeader).toBe('x-employee-id')
    expect(main.spec.enableLogging).toBe(true)
    expect(main.spec.costTracking).toEqual({ enabled: true, attribution: [{ header: 'X-Team-ID' }, { header: 'X-Feature-ID' }] })
    const article = c.routes.find((r) => r.name === 'article')!
    expect(article.fallback).toEqual(['claude-3', 'llama-kserve'])
    expect(article.spec.failover?.triggers).toEqual([{ status: 429 }, { status: 503 }, { timeout: '30s' }])
    const exp = c.experiments.find((e) => e.name === 'model-comparison')!
    expect(exp).toMatchObject({ minimumSampleSize: 1000, durationMs: 7 * 86_400_000, metrics: ['latencyP99', 'costPerRequest', 'userSatisfaction'] })
  })

  it('weight 0 drains: a drained backend is never the first choice', async () => {
    const c = await buildConfig(example('all-fields.yaml'), env())
    const main = c.routes.find((r) => r.name === 'main')!
    const seen = new Set<string>()
    for (let i = 0; i < 200; i++) {
      const p = await plan(main, { 'x-user-tier': 'premium', 'x-region': 'eu' }, () => i / 200)
      seen.add(p[0]!)
    }
    expect([...seen].sort()).toEqual(['claude-3', 'gpt-4'])
  })

  it('the embedded demo config', async () => {
    const c = await buildConfig(DEFAULT_CONFIG_YAML, env())
    expect(c.gateway.auth.open).toBe(true)
    expect(c.models.map((m) => m.id)).toEqual(['kortex-demo'])
  })
})

describe('a broken config is refused whole, every problem with its place', () => {
  it('reports all problems across documents with paths and lines', () => {
    const err = refused(`apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: a }
spec:
  type: external
  external: { url: not-a-url }
  timeoutSeconds: -1
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r }
spec:
  defaultBackend: { name: a, weight: 150 }
  colour: blue
---
apiVersion: v1
kind: ConfigMap
metadata: { name: x }
`)
    const where = err.problems.map((p) => `${p.doc}:${p.path}:${p.line}`)
    expect(where).toContain('1:spec.external.url:6')
    expect(where).toContain('1:spec.timeoutSeconds:7')
    expect(where).toContain('2:spec.defaultBackend.weight:13')
    expect(where).toContain('2:spec.colour:14')
    expect(err.problems.find((p) => p.path === 'spec.colour')!.message).toContain('"colour"')
    expect(err.problems.some((p) => p.doc === 3)).toBe(true)
    expect(err.message).toMatch(/document 2, InferenceRoute r, line 13: spec\.defaultBackend\.weight/)
  })

  it('a YAML syntax error names its line', () => {
    const err = refused('kind: InferenceRoute\nspec: [unclosed\n')
    expect(err.problems[0]!.line).toBe(3)
  })

  it('a route naming a backend that does not exist', async () => {
    const docs = parseConfigText(`apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r }
spec:
  defaultBackend: { name: ghost }
  fallback: { backends: [ghost2] }
`)
    const err = await compileConfig(docs, env()).catch((e) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect(err.problems.map((p: { path: string }) => p.path)).toEqual(['spec.defaultBackend.name', 'spec.fallback.backends[0]'])
  })

  it('enum values in any case load; unknown ones are refused', () => {
    expect(parseConfigText(`apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: a }
spec: { type: KSERVE, kserve: { serviceName: s, protocol: OpenAI } }`)[0]!.resource).toMatchObject({ spec: { type: 'kserve', kserve: { protocol: 'openai' } } })
    const err = refused(`apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: a }
spec: { type: Lambda }`)
    expect(err.problems[0]!.path).toBe('spec.type')
  })
})

describe('secrets', () => {
  it('apiKeySecret resolves from an environment variable named after the secret and key', () => {
    expect(secretEnvName({ name: 'openai-credentials', key: 'api-key' })).toBe('OPENAI_CREDENTIALS_API_KEY')
    expect(secretEnvName({ name: 'azure.openai', key: 'key1' })).toBe('AZURE_OPENAI_KEY1')
  })
  it('inline keys are not accepted for providers', () => {
    const err = refused(`apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: a }
spec: { type: external, external: { url: "https://x/v1", apiKey: test-live } }`)
    expect(err.problems[0]!.message).toContain('"apiKey"')
  })
})

describe('the README', () => {
  it("its config example loads as written", async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!)
    expect(blocks.length).toBeGreaterThan(0)
    for (const b of blocks) {
      if (!b.startsWith('apiVersion:')) continue // fragments: checked below
      const c = await buildConfig(b, env({ OPENAI_CREDENTIALS_API_KEY: 'test-x', ANTHROPIC_CREDENTIALS_API_KEY: 'test-y', ML_TEAM_KEY: 'kx-ml-team-key', WEB_APP_KEY: 'kx-web-app-key', AZURE_OPENAI_API_KEY: 'az-x', AWS_BEDROCK_ACCESS_KEY_ID: 'AKIDX', AWS_BEDROCK_SECRET_ACCESS_KEY: 'test-aws-x' }))
      if (!b.includes('kortex.io/allow-empty')) expect(c.routes.length).toBeGreaterThan(0) // the one that says it has none on purpose
      expect(c.warnings).toEqual([])
    }
  })

  it('its spec fragments (rules, failover, circuitBreaker, cost, budgets) are valid as written', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    const fragments = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => !b.startsWith('apiVersion:'))
    expect(fragments.length).toBeGreaterThanOrEqual(3)
    for (const f of fragments) {
      const spec = parse(f) as Record<string, unknown>
      const r =
        'circuitBreaker' in spec
          ? backendSpec.safeParse({ type: 'demo', ...spec })
          : 'cost' in spec || 'budgets' in spec || 'telemetry' in spec
            ? gatewaySpec.safeParse(spec)
            : routeSpec.safeParse({ defaultBackend: { name: 'x' }, ...spec })
      expect(r.error?.issues ?? [], f).toEqual([])
    }
  })
})
