import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startKServeUpstream, MODEL, AZURE_KEY, type KServeUpstream } from '../upstreams/kserve.ts'
import { startTestKortex, type TestKortex } from '../helpers/kortex.ts'
import { buildConfig } from '../../src/config/source.ts'
import { azureUrl } from '../../src/providers/azure/index.ts'

let up: KServeUpstream
let k: TestKortex
let client: OpenAI

const doc = (kind: string, name: string, spec: string) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: ${kind}
metadata: { name: ${name} }
spec: ${spec}
`

beforeAll(async () => {
  process.env.AZURE_TEST_KEY = AZURE_KEY
  up = await startKServeUpstream()
  const u = up.url
  k = await startTestKortex(
    [
      doc('GatewayConfig', 'g', `{ auth: { keys: [ { name: all, key: kx-all-models-key }, { name: iris-only, key: kx-iris-only-key, models: [sklearn-iris] } ] } }`),
      doc('InferenceBackend', 'llama-hf', `{ type: kserve, kserve: { serviceName: llama, url: "${u}" } }`),
      doc('InferenceBackend', 'llama-vllm', `{ type: kserve, kserve: { serviceName: llama, url: "${u}", pathPrefix: "" } }`),
      doc('InferenceBackend', 'iris', `{ type: kserve, kserve: { serviceName: ${MODEL}, url: "${u}", protocol: v2 } }`),
      doc('InferenceBackend', 'azure-dep', `{ type: external, external: { url: "${u}", provider: azure-openai, deployment: gpt4o-prod, apiVersion: "2024-10-21", apiKeySecret: { name: azure, key: test-key } } }`),
      doc('InferenceBackend', 'azure-v1', `{ type: external, external: { url: "${u}/azure", provider: azure-openai, model: gpt-4o, apiKeySecret: { name: azure, key: test-key } } }`),
      doc('InferenceRoute', 'hf', '{ models: [llama-hf], defaultBackend: { name: llama-hf } }'),
      doc('InferenceRoute', 'vllm', '{ models: [llama-vllm], defaultBackend: { name: llama-vllm } }'),
      doc('InferenceRoute', 'iris', '{ models: [iris], defaultBackend: { name: iris } }'),
      doc('InferenceRoute', 'azure-dep', '{ models: [azure-dep], defaultBackend: { name: azure-dep } }'),
      doc('InferenceRoute', 'azure-v1', '{ models: [azure-v1], defaultBackend: { name: azure-v1 } }'),
    ].join(''),
  )
  client = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: 'kx-all-models-key', maxRetries: 0 })
})
afterAll(async () => {
  await k?.close()
  await up?.close()
})

describe('kserve, OpenAI-compatible runtimes', () => {
  it('the Hugging Face runtime under /openai/v1, with the service name as the model', async () => {
    const r = await client.chat.completions.create({ model: 'llama-hf', messages: [{ role: 'user', content: 'hi' }] })
    expect(r.choices[0]!.message.content).toBe('kserve /openai/v1/chat/completions')
    expect(up.requests.at(-1)!.body.model).toBe('llama')
  })

  it('the native vLLM runtime under /v1, streaming', async () => {
    const s = await client.chat.completions.create({ model: 'llama-vllm', stream: true, messages: [{ role: 'user', content: 'hi' }] })
    let text = ''
    for await (const c of s) text += c.choices[0]?.delta.content ?? ''
    expect(text).toBe('kserve stream')
    expect(up.requests.at(-1)!.url).toBe('/v1/chat/completions')
  })

  it('the default in-cluster address', async () => {
    const c = await buildConfig(doc('InferenceBackend', 'b', '{ type: kserve, kserve: { serviceName: mistral-7b, namespace: models } }'), () => undefined)
    expect(c.backends.get('default/b')!.baseUrl).toBe('http://mistral-7b-predictor.models.svc.cluster.local/openai/v1')
  })

  it('a V2 backend asked for chat says where to go instead, as a 400 the SDK does not retry', async () => {
    const err = await client.chat.completions.create({ model: 'iris', messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e)
    expect(err.status).toBe(400)
    expect(err.code).toBe('unsupported_operation')
    expect(err.message).toContain('/kserve/iris/v2/')
  })
})

describe('kserve, V1 and V2 pass-through', () => {
  const call = (path: string, init: RequestInit = {}, key = 'kx-all-models-key') =>
    fetch(`${k.url}/kserve/${path}`, { ...init, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers } })

  it('V2 infer round trip, exact body both ways, no client auth forwarded, no upstream headers leaked', async () => {
    const body = { id: 'req-1', inputs: [{ name: 'input-0', shape: [2, 4], datatype: 'FP32', data: [6.8, 2.8, 4.8, 1.4, 6.0, 3.4, 4.5, 1.6] }] }
    const res = await call(`iris/v2/models/${MODEL}/infer`, { method: 'POST', body: JSON.stringify(body) })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ model_name: MODEL, model_version: null, id: 'req-1', parameters: null, outputs: [{ name: 'output-0', shape: [2], datatype: 'INT64', parameters: null, data: [1, 1] }] })
    const sent = up.requests.at(-1)!
    expect(sent.body).toEqual(body)
    expect(sent.headers.authorization).toBeUndefined()
    expect(res.headers.get('x-upstream-secret-header')).toBeNull()
  })

  it('V2 readiness and V1 predict', async () => {
    expect(await (await call('iris/v2/health/ready')).json()).toEqual({ ready: true })
    expect(await (await call(`iris/v2/models/${MODEL}/ready`)).json()).toEqual({ name: MODEL, ready: true })
    const p = await call(`iris/v1/models/${MODEL}:predict`, { method: 'POST', body: JSON.stringify({ instances: [[6.8, 2.8, 4.8, 1.4]] }) })
    expect(await p.json()).toEqual({ predictions: [1] })
  })

  it("KServe's own errors pass through with their status", async () => {
    const res = await call('iris/v2/models/nope/infer', { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] }) })
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({ error: 'Model with name nope does not exist.' })
  })

  it('other paths, methods, backends and keys are refused', async () => {
    expect((await call('iris/v2/repository/index', { method: 'POST', body: '{}' })).status).toBe(404)
    expect((await call(`iris/v2/models/${MODEL}/infer`)).status).toBe(405)
    expect((await call('llama-missing/v2/health/ready')).status).toBe(404)
    expect((await call(`iris/v2/models/${MODEL}/ready`, {}, 'kx-wrong-key-xx')).status).toBe(401)
    expect((await call(`iris/v2/models/other/ready`, {}, 'kx-iris-only-key')).status).toBe(403)
    expect((await call(`iris/v2/models/${MODEL}/ready`, {}, 'kx-iris-only-key')).status).toBe(200)
  })
})

describe('azure-openai', () => {
  it('deployment URLs with api-version and the api-key header, never Authorization', async () => {
    const r = await client.chat.completions.create({ model: 'azure-dep', messages: [{ role: 'user', content: 'hi' }] })
    expect(r.choices[0]!.message.content).toBe('azure /openai/deployments/gpt4o-prod/chat/completions')
    const sent = up.requests.at(-1)!
    expect(sent.url).toBe('/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21')
    expect(sent.headers['api-key']).toBe(AZURE_KEY)
    expect(sent.headers.authorization).toBeUndefined()
  })

  it('the v1 API with the model in the body', async () => {
    const r = await client.chat.completions.create({ model: 'azure-v1', messages: [{ role: 'user', content: 'hi' }] })
    expect(r.choices[0]!.message.content).toBe('azure /azure/openai/v1/chat/completions')
    expect(up.requests.at(-1)!.body.model).toBe('gpt-4o')
  })

  it('URL building never doubles segments', async () => {
    const c = await buildConfig(
      doc('InferenceBackend', 'a', '{ type: external, external: { url: "https://x.openai.azure.com/openai/deployments/dep1", provider: azure-openai, apiVersion: "2024-10-21" } }') +
        doc('InferenceBackend', 'b', '{ type: external, external: { url: "https://x.openai.azure.com/openai/v1/", provider: azure-openai } }'),
      () => undefined,
    )
    expect(azureUrl(c.backends.get('default/a')!, 'embeddings', 'm')).toBe('https://x.openai.azure.com/openai/deployments/dep1/embeddings?api-version=2024-10-21')
    expect(azureUrl(c.backends.get('default/b')!, 'chat', 'm')).toBe('https://x.openai.azure.com/openai/v1/chat/completions')
  })

  it('a refused Azure key is a 502 for the client, without the key', async () => {
    const c = await buildConfig(doc('InferenceBackend', 'a', `{ type: external, external: { url: "${up.url}", provider: azure-openai, apiVersion: "2024-10-21", apiKeySecret: { name: azure, key: test-key } } }`), (n) => (n === 'AZURE_TEST_KEY' ? 'wrong-key-123' : undefined))
    const { azureOpenAI } = await import('../../src/providers/azure/index.ts')
    const err = await azureOpenAI.send({ backend: c.backends.get('default/a')!, op: 'chat', body: { model: 'm', messages: [] }, stream: false, signal: new AbortController().signal, fetch, requestId: 'r' }).catch((e) => e)
    expect(err.cls).toBe('auth')
    expect(err.message).not.toContain('wrong-key-123')
  })
})
