// The CRDs: generated from the gateway's zod schemas and committed; the
// committed YAML must be what the generator writes now. They are structural
// (Kubernetes rejects anything else), accept every seed field and enum spelling,
// and the examples and manifests pass them (npm run k8s:validate).
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { generateCrds, KINDS, specSchema } from '../../k8s/controller/crds.ts'
import { validateOpenApi } from '../../k8s/controller/openapi-validate.ts'
import { validateManifests } from '../../scripts/k8s-validate.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const schemaOf = (kind: string) => specSchema(KINDS.find((k) => k.kind === kind)!)

/** Every node has a type, or is int-or-string / preserve-unknown-fields; no $ref, no additionalProperties: false, no defaults, no anyOf with types. */
function structuralProblems(s: any, path: string): string[] {
  const out: string[] = []
  if (!s.type && !s['x-kubernetes-int-or-string'] && !s['x-kubernetes-preserve-unknown-fields']) out.push(`${path}: no type`)
  for (const bad of ['$ref', 'default', 'oneOf', 'allOf', 'not', 'nullable', 'const', 'propertyNames']) if (bad in s) out.push(`${path}: ${bad}`)
  if (s.additionalProperties === false) out.push(`${path}: additionalProperties false`)
  if (s.anyOf && !s['x-kubernetes-int-or-string']) out.push(`${path}: anyOf`)
  if (s.properties && s.additionalProperties) out.push(`${path}: properties and additionalProperties`)
  for (const [k, v] of Object.entries(s.properties ?? {})) out.push(...structuralProblems(v, `${path}.${k}`))
  if (s.items) out.push(...structuralProblems(s.items, `${path}[]`))
  if (typeof s.additionalProperties === 'object') out.push(...structuralProblems(s.additionalProperties, `${path}{}`))
  return out
}

describe('CRDs', () => {
  it('the committed k8s/crds/*.yaml are what npm run gen:crds writes now (run it after changing src/config/schema.ts)', () => {
    for (const [name, text] of generateCrds()) expect(readFileSync(`${root}k8s/crds/${name}`, 'utf8'), `k8s/crds/${name} is stale: npm run gen:crds`).toBe(text)
  })

  it('are structural, with the status subresource, printer columns and the right group', () => {
    for (const [name, text] of generateCrds()) {
      if (name.endsWith('kustomization.yaml')) continue
      const crd = parse(text)
      expect(crd.spec.group).toBe(name.startsWith('legacy/') ? 'gateway.inference-gateway.io' : 'gateway.kortex.io')
      const v = crd.spec.versions[0]
      expect(v.subresources).toEqual({ status: {} })
      expect(v.additionalPrinterColumns.map((c: any) => c.name)).toEqual(expect.arrayContaining(['Ready', 'Age']))
      expect(structuralProblems(v.schema.openAPIV3Schema, name)).toEqual([])
    }
    const backendCols = parse(generateCrds().get('inferencebackends.gateway.kortex.io.yaml')!).spec.versions[0].additionalPrinterColumns.map((c: any) => c.name)
    expect(backendCols).toEqual(expect.arrayContaining(['Type', 'Provider', 'Model']))
  })

  it('accept every field of the seed CRDs, in the case its documents write', () => {
    const backend = schemaOf('InferenceBackend')
    const route = schemaOf('InferenceRoute')
    const experiment = schemaOf('InferenceExperiment')
    expect(
      validateOpenApi(backend, {
        type: 'External',
        external: { url: 'https://api.openai.com/v1', provider: 'OpenAI', apiKeySecret: { name: 's', key: 'k' }, model: 'gpt-4o' },
        healthCheck: { path: '/health', intervalSeconds: 30, timeoutSeconds: 5, failureThreshold: 3 },
        cost: { inputTokenCost: '0.03', outputTokenCost: '0.06', requestCost: '0', currency: 'USD' },
        timeoutSeconds: 60,
        maxConcurrency: 100,
        priority: 0,
        matchHeaders: { 'x-tier': 'premium' },
      }),
    ).toEqual([])
    expect(validateOpenApi(backend, { type: 'KServe', kserve: { serviceName: 'mistral', namespace: 'models', protocol: 'V2', pathPrefix: '' } })).toEqual([])
    expect(validateOpenApi(backend, { type: 'kubernetes', kubernetes: { serviceName: 'vllm', namespace: 'ml', port: 8000 } })).toEqual([])
    expect(
      validateOpenApi(route, {
        rules: [{ match: { headers: { 'x-user-tier': 'premium', 'x-app': { prefix: 'mobile-' } }, pathPrefix: '/v1', modelPattern: 'gpt-4*' }, backends: [{ name: 'a', weight: 0 }, { name: 'b' }] }, { backends: [{ name: 'c' }] }],
        defaultBackend: { name: 'a', weight: 100 },
        fallback: { backends: ['b'], timeoutSeconds: 30 },
        rateLimit: { requestsPerMinute: 60, perUser: true, userHeader: 'x-user-id' },
        experiments: [{ name: 'e', control: 'a', treatment: 'b', trafficPercent: 0, metric: 'latency_p95' }],
        costTracking: { enabled: true, attribution: [{ header: 'X-Team-ID' }, { header: 'X-Feature-ID' }] },
        enableLogging: false,
        failover: { enabled: true, maxRetries: 2, chain: ['b'], triggers: [{ status: 429 }, { status: 503 }, { timeout: '30s' }] },
      }),
    ).toEqual([])
    expect(validateOpenApi(route, { defaultBackend: { name: 'a' }, costTracking: true })).toEqual([])
    expect(
      validateOpenApi(experiment, {
        variants: [{ name: 'control', backend: 'gpt-4', weight: 50 }, { name: 'treatment', backend: 'claude-3', weight: 50 }],
        metrics: ['latencyP99', 'costPerRequest', 'userSatisfaction'],
        duration: '7d',
        minimumSampleSize: 1000,
      }),
    ).toEqual([])
  })

  it('refuse what the gateway refuses: unknown fields, bad enums, weights over 100, a missing required field', () => {
    const route = schemaOf('InferenceRoute')
    const backend = schemaOf('InferenceBackend')
    expect(validateOpenApi(route, { defaultBackend: { name: 'a', weight: 150 } })).toEqual(['defaultBackend.weight: must be <= 100'])
    expect(validateOpenApi(route, { defaultBackend: { name: 'a' }, typo: 1 })).toEqual(['typo: unknown field'])
    expect(validateOpenApi(backend, { type: 'grpc' })[0]).toMatch(/^type: "grpc" does not match/)
    expect(validateOpenApi(backend, { type: 'external', external: { provider: 'gemini', apiKeySecret: { name: 'gemini-credentials' } } })).toEqual(['external.apiKeySecret.key: Required value'])
    // A provider with an official endpoint needs no url: the API server takes it as the gateway does.
    expect(validateOpenApi(backend, { type: 'external', external: { provider: 'bedrock', region: 'us-east-1', model: 'anthropic.claude-3-haiku-20240307-v1:0' } })).toEqual([])
    expect(validateOpenApi(route, { failover: { triggers: [{ status: 429, timeout: '1s' }] }, defaultBackend: { name: 'a' } })).toEqual(['failover.triggers[0]: must have at most 1 fields'])
  })

  it('npm run k8s:validate: every manifest and example parses and passes the schemas and the gateway', async () => {
    const r = await validateManifests(root)
    expect(r.problems).toEqual([])
    expect(r.customResources).toBeGreaterThan(10)
  })
})
