// A backend that names a provider with a public API needs no url: it gets the
// official endpoint (Bedrock's per region, Vertex AI's per location). A url is
// still an override (a VPC endpoint, a proxy, a test server); a backend whose
// address cannot be known is refused with a message naming what to add.
import { describe, expect, it } from 'vitest'
import { buildConfig } from '../../src/config/source.ts'

const config = (external: string) => `apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: b }
spec: { type: external, external: ${external} }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r }
spec: { defaultBackend: { name: b } }
`
const backendOf = async (external: string) => (await buildConfig(config(external), () => 'value', 't')).backends.get('default/b')!
const refusal = (external: string) => buildConfig(config(external), () => 'value', 't').then(() => 'accepted', (e: Error) => e.message)
const key = 'apiKeySecret: { name: k, key: api-key }'

describe('a provider without url gets its official endpoint', () => {
  it.each([
    ['{ provider: bedrock, region: us-east-1, model: anthropic.claude-3-haiku-20240307-v1:0 }', 'https://bedrock-runtime.us-east-1.amazonaws.com'],
    ['{ provider: bedrock, region: eu-west-3 }', 'https://bedrock-runtime.eu-west-3.amazonaws.com'],
    [`{ provider: gemini, ${key} }`, 'https://generativelanguage.googleapis.com'],
    ['{ provider: vertex, project: p, location: europe-west4 }', 'https://europe-west4-aiplatform.googleapis.com'],
    ['{ provider: vertex, project: p, location: global }', 'https://aiplatform.googleapis.com'],
    [`{ provider: OpenAI, ${key} }`, 'https://api.openai.com/v1'],
    [`{ provider: mistral, ${key} }`, 'https://api.mistral.ai/v1'],
    [`{ provider: anthropic, ${key} }`, 'https://api.anthropic.com'],
  ])('%s -> %s', async (external, url) => {
    expect((await backendOf(external)).rootUrl).toBe(url)
  })

  it('cohere without url speaks its own v2 API at api.cohere.com', async () => {
    const b = await backendOf(`{ provider: cohere, ${key} }`)
    expect([b.provider, b.baseUrl]).toEqual(['cohere', 'https://api.cohere.com'])
  })

  it('the url is still an override: a VPC endpoint for Bedrock, a proxy for Vertex AI', async () => {
    expect((await backendOf('{ provider: bedrock, region: us-east-1, url: "https://vpce-0a1b.bedrock-runtime.us-east-1.vpce.amazonaws.com" }')).rootUrl).toBe('https://vpce-0a1b.bedrock-runtime.us-east-1.vpce.amazonaws.com')
    const v = await backendOf('{ provider: vertex, project: p, location: us-central1, url: "http://proxy.internal:8080/" }')
    expect(v.rootUrl).toBe('http://proxy.internal:8080')
    // A self-hosted server speaking a provider's API may take no key.
    expect((await backendOf('{ provider: mistral, url: "http://mistral.internal/v1" }')).apiKey).toBeUndefined()
  })
})

describe('a backend whose address or credential cannot be known is refused, naming the missing piece', () => {
  it.each([
    ['{ provider: bedrock }', 'spec.external.region: provider bedrock needs a region (e.g. "us-east-1")'],
    ['{ provider: vertex, location: us-central1 }', 'spec.external.project: provider vertex needs "project" (the Google Cloud project id)'],
    ['{ provider: vertex, project: p }', 'spec.external.location: provider vertex needs "location" (the Google Cloud location, e.g. us-central1 or global)'],
    ['{ provider: vertex, project: p, location: "us-central1.evil.example" }', 'spec.external.location: must be a Google Cloud location like "us-central1" or "global"'],
    ['{ provider: gemini }', 'spec.external.apiKeySecret: provider gemini needs "apiKeySecret" (a Gemini API key)'],
    ['{ provider: cohere }', 'spec.external.apiKeySecret: provider cohere needs "apiKeySecret" (a Cohere API key) to call its public API'],
    ['{ provider: azure-openai }', 'spec.external.url: provider azure-openai needs "url" (the resource endpoint, e.g. https://NAME.openai.azure.com)'],
    ['{ provider: custom }', 'spec.external.url: provider custom needs "url" (the server\'s address)'],
    // No provider means an OpenAI-compatible server somewhere: never guess api.openai.com (the key would go there).
    ['{ model: llama, apiKeySecret: { name: k, key: api-key } }', 'spec.external.url: is required: the server\'s address, or name a provider with a public API'],
  ])('%s', async (external, message) => {
    const m = await refusal(external)
    expect(m).toContain(message)
    expect(m).toContain('1 problem')
  })
})
