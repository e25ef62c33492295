// The azure-openai provider against a test Azure resource: URL building
// from real config (deployment and v1 styles, never a doubled segment), the
// api-key header and api-version, the three operations, streams (with and
// without the usage chunk, by api-version) and Azure's error bodies.
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfigText } from '../../src/config/load.ts'
import { compileConfig, type Backend } from '../../src/config/compile.ts'
import { azureOpenAI, azureTakesStreamOptions, azureUrl } from '../../src/providers/azure/index.ts'
import { UpstreamError, toGatewayError } from '../../src/providers/errors.ts'
import { webStream, type Operation, type StreamBody } from '../../src/providers/types.ts'
import { AZURE_API_KEY, startAzureUpstream, type AzureUpstream } from '../upstreams/azure.ts'
import { startTestKortex, type TestKortex } from '../helpers/kortex.ts'

const doc = (kind: string, name: string, spec: string) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: ${kind}
metadata: { name: ${name} }
spec: ${spec}
`
const azureDoc = (name: string, external: string) => doc('InferenceBackend', name, `{ type: external, external: { provider: azure-openai, ${external} } }`)

/** Backends compiled from config text the way the gateway does; the secret is AZURE_CREDENTIALS_API_KEY. */
async function compile(yaml: string, key: string | null = AZURE_API_KEY): Promise<Map<string, Backend>> {
  const c = await compileConfig(parseConfigText(yaml), (env) => (env === 'AZURE_CREDENTIALS_API_KEY' ? (key ?? undefined) : undefined))
  return c.backends
}
async function backend(external: string, key?: string | null): Promise<Backend> {
  return (await compile(azureDoc('b', external), key)).get('default/b')!
}
const SECRET = 'apiKeySecret: { name: azure-credentials, key: api-key }'

const send = (b: Backend, op: Operation, body: Record<string, unknown>, stream = false) =>
  azureOpenAI.send({ backend: b, op, body: { ...body, ...(stream ? { stream: true } : {}) }, stream, signal: new AbortController().signal, fetch, requestId: 'req-az' })

async function readAll(body: StreamBody): Promise<string> {
  const s = webStream(body)
  return new Response(s).text()
}
const events = (sse: string) =>
  sse
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6))

let up: AzureUpstream
beforeAll(async () => {
  up = await startAzureUpstream()
})
afterAll(async () => {
  await up?.close()
})

describe('azure-openai URL building, from config', () => {
  const R = 'https://contoso.openai.azure.com'

  it('deployment style when apiVersion is set: the resource endpoint, with or without /openai or a trailing slash', async () => {
    for (const url of [R, `${R}/`, `${R}/openai`, `${R}/openai/`]) {
      const b = await backend(`url: "${url}", deployment: gpt4o-prod, apiVersion: "2024-10-21"`)
      expect(azureUrl(b, 'chat', 'ignored')).toBe(`${R}/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21`)
      expect(azureUrl(b, 'completions', 'ignored')).toBe(`${R}/openai/deployments/gpt4o-prod/completions?api-version=2024-10-21`)
      expect(azureUrl(b, 'embeddings', 'ignored')).toBe(`${R}/openai/deployments/gpt4o-prod/embeddings?api-version=2024-10-21`)
    }
  })

  it('the deployment defaults to the backend model, then to the request model; names are escaped', async () => {
    expect(azureUrl(await backend(`url: "${R}", model: gpt-4o, apiVersion: "2024-10-21"`), 'chat', 'x')).toBe(`${R}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21`)
    expect(azureUrl(await backend(`url: "${R}", apiVersion: "2024-10-21"`), 'chat', 'client-model')).toBe(`${R}/openai/deployments/client-model/chat/completions?api-version=2024-10-21`)
    expect(azureUrl(await backend(`url: "${R}", deployment: "a b/c", apiVersion: "2025-04-01-preview"`), 'chat', 'x')).toBe(`${R}/openai/deployments/a%20b%2Fc/chat/completions?api-version=2025-04-01-preview`)
  })

  it('a URL that already names the deployment is not doubled, and it needs an apiVersion', async () => {
    const b = await backend(`url: "${R}/openai/deployments/dep1/", apiVersion: "2024-10-21", deployment: other`)
    expect(azureUrl(b, 'embeddings', 'm')).toBe(`${R}/openai/deployments/dep1/embeddings?api-version=2024-10-21`)
    const noVersion = await backend(`url: "${R}/openai/deployments/dep1"`)
    const err = (() => {
      try {
        azureUrl(noVersion, 'chat', 'm')
      } catch (e) {
        return e
      }
    })() as UpstreamError
    expect(err).toBeInstanceOf(UpstreamError)
    expect(err.cls).toBe('unavailable')
    expect(err.message).toContain('apiVersion')
  })

  it('the v1 API without apiVersion: /openai/v1 added once, whatever the URL gives', async () => {
    for (const url of [R, `${R}/`, `${R}/openai`, `${R}/openai/v1`, `${R}/openai/v1/`]) {
      const b = await backend(`url: "${url}", model: gpt-4o`)
      expect(azureUrl(b, 'chat', 'gpt-4o')).toBe(`${R}/openai/v1/chat/completions`)
      expect(azureUrl(b, 'embeddings', 'gpt-4o')).toBe(`${R}/openai/v1/embeddings`)
    }
    // Azure AI Foundry resources use the same paths on their own host.
    expect(azureUrl(await backend('url: "https://proj.services.ai.azure.com/openai/v1"'), 'completions', 'm')).toBe('https://proj.services.ai.azure.com/openai/v1/completions')
  })

  it('an explicit /openai/v1 URL with apiVersion keeps the v1 API and passes the version (e.g. "preview")', async () => {
    const b = await backend(`url: "${R}/openai/v1", apiVersion: preview`)
    expect(azureUrl(b, 'chat', 'gpt-4o')).toBe(`${R}/openai/v1/chat/completions?api-version=preview`)
  })

  it('stream_options only where the api-version takes it', () => {
    expect(azureTakesStreamOptions(undefined)).toBe(true)
    expect(azureTakesStreamOptions('preview')).toBe(true)
    expect(azureTakesStreamOptions('2024-10-21')).toBe(true)
    expect(azureTakesStreamOptions('2024-09-01-preview')).toBe(true)
    expect(azureTakesStreamOptions('2025-04-01-preview')).toBe(true)
    expect(azureTakesStreamOptions('2024-06-01')).toBe(false)
    expect(azureTakesStreamOptions('2024-08-01-preview')).toBe(false)
    expect(azureTakesStreamOptions('2023-05-15')).toBe(false)
  })
})

describe('azure-openai requests', () => {
  it('deployment style: path, api-version, api-key and never Authorization; the answer is passed on byte for byte', async () => {
    const b = await backend(`url: "${up.url}", deployment: gpt4o-prod, apiVersion: "2024-10-21", model: gpt-4o, ${SECRET}`)
    const r = await send(b, 'chat', { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], temperature: 0.2 })
    const sent = up.last()
    expect(sent.method).toBe('POST')
    expect(sent.path).toBe('/openai/deployments/gpt4o-prod/chat/completions')
    expect(sent.query.get('api-version')).toBe('2024-10-21')
    expect(sent.headers['api-key']).toBe(AZURE_API_KEY)
    expect(sent.headers.authorization).toBeUndefined()
    expect(sent.headers['content-type']).toBe('application/json')
    expect(sent.body).toEqual({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], temperature: 0.2 })
    expect(r.kind).toBe('json')
    if (r.kind !== 'json') return
    expect((r.body as any).choices[0].message.content).toBe('azure chat/completions gpt4o-prod')
    // Azure's extra fields survive: raw is the upstream's exact bytes.
    expect(JSON.parse(new TextDecoder().decode(r.raw!))).toEqual(r.body)
    expect((r.body as any).prompt_filter_results).toHaveLength(1)
  })

  it('deployment style: embeddings and completions', async () => {
    const emb = await backend(`url: "${up.url}/openai", deployment: embed-small, apiVersion: "2024-10-21", ${SECRET}`)
    const e = await send(emb, 'embeddings', { model: 'text-embedding-3-small', input: ['a', 'b'] })
    expect(up.last().url).toBe('/openai/deployments/embed-small/embeddings?api-version=2024-10-21')
    expect(e.kind === 'json' && (e.body as any).data.length).toBe(2)
    const ins = await backend(`url: "${up.url}", deployment: instruct, apiVersion: "2024-10-21", ${SECRET}`)
    const c = await send(ins, 'completions', { model: 'gpt-35-turbo-instruct', prompt: 'Say hi' })
    expect(up.last().url).toBe('/openai/deployments/instruct/completions?api-version=2024-10-21')
    expect(c.kind === 'json' && (c.body as any).choices[0].text).toBe('azure completions instruct')
  })

  it('v1 style: /openai/v1 with the deployment as the model in the body, no api-version', async () => {
    const b = await backend(`url: "${up.url}", model: gpt4o-prod, ${SECRET}`)
    const r = await send(b, 'chat', { model: 'gpt4o-prod', messages: [{ role: 'user', content: 'hi' }] })
    const sent = up.last()
    expect(sent.url).toBe('/openai/v1/chat/completions')
    expect(sent.body.model).toBe('gpt4o-prod')
    expect(sent.headers['api-key']).toBe(AZURE_API_KEY)
    expect(sent.headers.authorization).toBeUndefined()
    expect(r.kind === 'json' && (r.body as any).choices[0].message.content).toBe('azure chat/completions gpt4o-prod')
  })

  it('streams, asking for the usage chunk on api-versions that take stream_options', async () => {
    const b = await backend(`url: "${up.url}", deployment: gpt4o-prod, apiVersion: "2024-10-21", ${SECRET}`)
    const r = await send(b, 'chat', { model: 'gpt4o-prod', messages: [{ role: 'user', content: 'hi' }] }, true)
    expect(up.last().body.stream_options).toEqual({ include_usage: true })
    expect(r.kind).toBe('stream')
    if (r.kind !== 'stream') return
    const ev = events(await readAll(r.body))
    expect(ev.at(-1)).toBe('[DONE]')
    const chunks = ev.slice(0, -1).map((e) => JSON.parse(e))
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('azure stream')
    expect(chunks.at(-1).usage).toEqual({ prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 })
  })

  it('streams on an older api-version without stream_options, which Azure would refuse', async () => {
    const b = await backend(`url: "${up.url}", deployment: gpt4o-prod, apiVersion: "2024-06-01", ${SECRET}`)
    const r = await send(b, 'chat', { model: 'gpt4o-prod', messages: [{ role: 'user', content: 'hi' }] }, true)
    expect(up.last().body.stream_options).toBeUndefined()
    expect(r.kind).toBe('stream')
    if (r.kind !== 'stream') return
    const chunks = events(await readAll(r.body)).slice(0, -1).map((e) => JSON.parse(e))
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('azure stream')
    expect(chunks.some((c) => c.usage)).toBe(false)
  })
})

describe('azure-openai failures', () => {
  it('a wrong key: Azure 401 -> auth, a 502 for the client, the key never in a message', async () => {
    const b = await backend(`url: "${up.url}", deployment: gpt4o-prod, apiVersion: "2024-10-21", ${SECRET}`, 'wrong-key-31337')
    const err = (await send(b, 'chat', { model: 'm', messages: [] }).catch((e) => e)) as UpstreamError
    expect(err).toBeInstanceOf(UpstreamError)
    expect(err.cls).toBe('auth')
    expect(err.upstreamStatus).toBe(401)
    expect(err.message).toContain('Access denied due to invalid subscription key')
    expect(up.last().headers['api-key']).toBe('wrong-key-31337')
    const g = toGatewayError(err, 'b')
    expect(g.status).toBe(502)
    expect(JSON.stringify(g.body())).not.toContain('wrong-key-31337')
  })

  it('a missing secret is unavailable before any request', async () => {
    const before = up.requests.length
    const b = await backend(`url: "${up.url}", deployment: gpt4o-prod, apiVersion: "2024-10-21", ${SECRET}`, null)
    const err = (await send(b, 'chat', { model: 'm', messages: [] }).catch((e) => e)) as UpstreamError
    expect(err.cls).toBe('unavailable')
    expect(err.message).toContain('AZURE_CREDENTIALS_API_KEY')
    expect(up.requests.length).toBe(before)
  })

  it('an unknown deployment is a client-side 404 with Azure\'s message', async () => {
    const b = await backend(`url: "${up.url}", deployment: nope, apiVersion: "2024-10-21", ${SECRET}`)
    const err = (await send(b, 'chat', { model: 'm', messages: [] }).catch((e) => e)) as UpstreamError
    expect(err.cls).toBe('bad_request')
    expect(err.upstreamStatus).toBe(404)
    expect(err.upstreamCode).toBe('DeploymentNotFound')
  })

  it("Azure's content filter error is a content_policy refusal", async () => {
    const b = await backend(`url: "${up.url}", deployment: gpt4o-prod, apiVersion: "2024-10-21", ${SECRET}`)
    const err = (await send(b, 'chat', { model: 'm', messages: [{ role: 'user', content: 'trigger-filter' }] }).catch((e) => e)) as UpstreamError
    expect(err.cls).toBe('content_policy')
    expect(err.param).toBe('prompt')
    expect(toGatewayError(err, 'b').status).toBe(400)
  })
})

describe('azure-openai through the gateway', () => {
  let k: TestKortex
  let client: OpenAI
  beforeAll(async () => {
    process.env.AZURE_E2E_API_KEY = AZURE_API_KEY
    const secret = 'apiKeySecret: { name: azure-e2e, key: api-key }'
    k = await startTestKortex(
      [
        doc('GatewayConfig', 'g', '{ auth: { keys: [ { name: t, key: kx-azure-test-key } ] }, accessLog: false }'),
        azureDoc('az-dep', `url: "${up.url}", deployment: gpt4o-prod, apiVersion: "2024-10-21", ${secret}`),
        azureDoc('az-v1', `url: "${up.url}/openai/v1", model: gpt4o-prod, ${secret}`),
        doc('InferenceRoute', 'az-dep', '{ models: [az-dep], defaultBackend: { name: az-dep } }'),
        doc('InferenceRoute', 'az-v1', '{ models: [az-v1], defaultBackend: { name: az-v1 } }'),
      ].join(''),
    )
    client = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: 'kx-azure-test-key', maxRetries: 0 })
  })
  afterAll(async () => {
    await k?.close()
    delete process.env.AZURE_E2E_API_KEY
  })

  it("an SDK stream survives Azure's choice-less first chunk; the gateway's key never reaches Azure", async () => {
    const s = await client.chat.completions.create({ model: 'az-dep', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] })
    let text = ''
    let usage: unknown
    for await (const c of s) {
      text += c.choices[0]?.delta.content ?? ''
      if (c.usage) usage = c.usage
    }
    expect(text).toBe('azure stream')
    expect(usage).toEqual({ prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 })
    const sent = up.last()
    expect(sent.url).toBe('/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21')
    expect(sent.headers.authorization).toBeUndefined()
    expect(JSON.stringify(sent.headers)).not.toContain('kx-azure-test-key')
  })

  it('the v1 style, whole response, model rewritten to the deployment', async () => {
    const r = await client.chat.completions.create({ model: 'az-v1', messages: [{ role: 'user', content: 'hi' }] })
    expect(r.choices[0]!.message.content).toBe('azure chat/completions gpt4o-prod')
    expect(up.last().url).toBe('/openai/v1/chat/completions')
    expect(up.last().body.model).toBe('gpt4o-prod')
  })
})
