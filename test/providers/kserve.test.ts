// The kserve provider and the V1/V2 pass-through against a test
// InferenceService: base URLs compiled from real config, the OpenAI
// endpoints of the Hugging Face runtime (/openai/v1) and native vLLM (/v1),
// whole and streamed, V2 infer and V1 predict passed through byte for byte
// with fresh headers, refused paths, KServe's own errors, readiness.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/api/errors.ts'
import { parseConfigText } from '../../src/config/load.ts'
import { compileConfig, type Backend } from '../../src/config/compile.ts'
import { UpstreamError, toGatewayError } from '../../src/providers/errors.ts'
import { kserve } from '../../src/providers/kserve/index.ts'
import { kservePassthrough, kserveReady, matchKservePath } from '../../src/providers/kserve/passthrough.ts'
import type { Operation } from '../../src/providers/types.ts'
import { MODEL, SLOW_MODEL, SLOW_MS, startKServeUpstream, type KServeUpstream } from '../upstreams/kserve.ts'
import { webStream } from '../../src/providers/types.ts'

const backendDoc = (name: string, kserveSpec: string, extra = '', ns?: string) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: ${name}${ns ? `, namespace: ${ns}` : ''} }
spec: { type: kserve, kserve: ${kserveSpec}${extra} }
`

async function compile(...docs: string[]): Promise<Map<string, Backend>> {
  return (await compileConfig(parseConfigText(docs.join('')), () => undefined)).backends
}
async function backend(kserveSpec: string, extra = ''): Promise<Backend> {
  return (await compile(backendDoc('b', kserveSpec, extra))).get('default/b')!
}

const call = (b: Backend, op: Operation, body: Record<string, unknown>, stream = false) =>
  kserve.send({ backend: b, op, body: { ...body, ...(stream ? { stream: true } : {}) }, stream, signal: new AbortController().signal, fetch, requestId: 'req-ks' })

const events = (sse: string) =>
  sse
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6))

const bytes = (o: unknown) => new TextEncoder().encode(JSON.stringify(o)).buffer as ArrayBuffer

let hf: KServeUpstream // Hugging Face runtime: OpenAI API only under /openai/v1
let vllm: KServeUpstream // native vLLM runtime: only under /v1
beforeAll(async () => {
  hf = await startKServeUpstream({ prefix: '/openai' })
  vllm = await startKServeUpstream({ prefix: '' })
})
afterAll(async () => {
  await hf?.close()
  await vllm?.close()
})

describe('kserve base URLs, from config', () => {
  it('the default in-cluster address of the predictor, with the Hugging Face prefix', async () => {
    const bs = await compile(
      backendDoc('a', '{ serviceName: mistral-7b }', '', 'models'),
      backendDoc('b', '{ serviceName: mistral-7b, namespace: llm }', '', 'models'),
    )
    const a = bs.get('models/a')!
    expect(a.provider).toBe('kserve')
    expect(a.baseUrl).toBe('http://mistral-7b-predictor.models.svc.cluster.local/openai/v1')
    expect(a.rootUrl).toBe('http://mistral-7b-predictor.models.svc.cluster.local')
    expect(a.model).toBe('mistral-7b')
    expect(bs.get('models/b')!.baseUrl).toBe('http://mistral-7b-predictor.llm.svc.cluster.local/openai/v1')
  })

  it('pathPrefix "" for the native vLLM runtime; an explicit url, trailing slash or not, never doubles a segment', async () => {
    expect((await backend('{ serviceName: s, pathPrefix: "" }')).baseUrl).toBe('http://s-predictor.default.svc.cluster.local/v1')
    const b = await backend('{ serviceName: s, url: "https://llama.models.example.com/", model: meta-llama/Llama-3.1-8B }')
    expect(b.baseUrl).toBe('https://llama.models.example.com/openai/v1')
    expect(b.rootUrl).toBe('https://llama.models.example.com')
    expect(b.model).toBe('meta-llama/Llama-3.1-8B')
    expect((await backend('{ serviceName: s, url: "http://x.example/", pathPrefix: "/openai/" }')).baseUrl).toBe('http://x.example/openai/v1')
  })
})

describe('kserve provider, OpenAI-compatible runtimes', () => {
  it('Hugging Face runtime: chat, whole, to /openai/v1/chat/completions, without client credentials', async () => {
    const b = await backend(`{ serviceName: llama, url: "${hf.url}" }`)
    const r = await call(b, 'chat', { model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 })
    const sent = hf.last()
    expect(sent.method).toBe('POST')
    expect(sent.url).toBe('/openai/v1/chat/completions')
    expect(sent.body).toEqual({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 })
    expect(sent.headers.authorization).toBeUndefined()
    expect(r.kind).toBe('json')
    if (r.kind !== 'json') return
    expect((r.body as any).choices[0].message.content).toBe('kserve /openai/v1/chat/completions')
    expect(JSON.parse(new TextDecoder().decode(r.raw!))).toEqual(r.body)
  })

  it('Hugging Face runtime: chat, streamed, chunk by chunk to [DONE], with the usage chunk asked for', async () => {
    const b = await backend(`{ serviceName: llama, url: "${hf.url}" }`)
    const r = await call(b, 'chat', { model: 'llama', messages: [{ role: 'user', content: 'hi' }] }, true)
    expect(hf.last().body.stream_options).toEqual({ include_usage: true })
    expect(r.kind).toBe('stream')
    if (r.kind !== 'stream') return
    const ev = events(await new Response(webStream(r.body)).text())
    expect(ev.at(-1)).toBe('[DONE]')
    const chunks = ev.slice(0, -1).map((e) => JSON.parse(e))
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true)
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('kserve stream')
    expect(chunks.at(-1).usage).toEqual({ prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 })
  })

  it('Hugging Face runtime: completions and embeddings', async () => {
    const b = await backend(`{ serviceName: llama, url: "${hf.url}" }`)
    const c = await call(b, 'completions', { model: 'llama', prompt: 'Once' })
    expect(hf.last().url).toBe('/openai/v1/completions')
    expect(c.kind === 'json' && (c.body as any).choices[0].text).toBe('kserve /openai/v1/completions')
    const e = await call(b, 'embeddings', { model: 'llama', input: ['a', 'b', 'c'] })
    expect(hf.last().url).toBe('/openai/v1/embeddings')
    expect(e.kind === 'json' && (e.body as any).data.length).toBe(3)
  })

  it('native vLLM runtime (pathPrefix ""): /v1/chat/completions, whole and streamed', async () => {
    const b = await backend(`{ serviceName: llama, url: "${vllm.url}", pathPrefix: "" }`)
    const r = await call(b, 'chat', { model: 'llama', messages: [{ role: 'user', content: 'hi' }] })
    expect(vllm.last().url).toBe('/v1/chat/completions')
    expect(r.kind === 'json' && (r.body as any).choices[0].message.content).toBe('kserve /v1/chat/completions')
    const s = await call(b, 'chat', { model: 'llama', messages: [{ role: 'user', content: 'hi' }] }, true)
    expect(s.kind).toBe('stream')
    if (s.kind === 'stream') expect(events(await new Response(webStream(s.body)).text()).at(-1)).toBe('[DONE]')
  })

  it('the wrong prefix for the runtime is the runtime\'s 404, a client-side error', async () => {
    const b = await backend(`{ serviceName: llama, url: "${vllm.url}" }`) // default /openai against native vLLM
    const err = (await call(b, 'chat', { model: 'llama', messages: [] }).catch((e) => e)) as UpstreamError
    expect(vllm.last().url).toBe('/openai/v1/chat/completions')
    expect(err).toBeInstanceOf(UpstreamError)
    expect(err.upstreamStatus).toBe(404)
  })

  it('an unknown model gets the runtime\'s own message', async () => {
    const b = await backend(`{ serviceName: llama, url: "${hf.url}" }`)
    const err = (await call(b, 'chat', { model: 'gpt-4', messages: [] }).catch((e) => e)) as UpstreamError
    expect(err.cls).toBe('bad_request')
    expect(err.message).toBe('The model `gpt-4` does not exist.')
  })

  it('V1/V2 backends refuse the OpenAI operations with the way to reach them, and send nothing', async () => {
    for (const protocol of ['v1', 'v2']) {
      const before = hf.requests.length
      const b = await backend(`{ serviceName: ${MODEL}, url: "${hf.url}", protocol: ${protocol} }`)
      const err = (await call(b, 'chat', { model: MODEL, messages: [] }).catch((e) => e)) as UpstreamError
      expect(err.cls).toBe('unavailable')
      expect(err.message).toContain(`/kserve/b/${protocol}/`)
      expect(toGatewayError(err, 'b').status).toBe(503)
      expect(hf.requests.length).toBe(before)
    }
  })
})

describe('kserve pass-through', () => {
  let v2: Backend
  let v1: Backend
  beforeAll(async () => {
    v2 = await backend(`{ serviceName: ${MODEL}, url: "${hf.url}", protocol: v2 }`)
    v1 = await backend(`{ serviceName: ${MODEL}, url: "${hf.url}", protocol: v1 }`)
  })
  const pass = (b: Backend, method: string, path: string, body: ArrayBuffer | null = null, more: Partial<Parameters<typeof kservePassthrough>[0]> = {}) =>
    kservePassthrough({ backend: b, path, method, body, contentType: body ? 'application/json' : undefined, fetch, signal: new AbortController().signal, ...more })

  it('V2 infer: the exact body both ways, the upstream status, fresh headers', async () => {
    const req = { id: 'req-1', parameters: { custom: 'x' }, inputs: [{ name: 'input-0', shape: [2, 4], datatype: 'FP32', data: [6.8, 2.8, 4.8, 1.4, 6.0, 3.4, 4.5, 1.6] }], outputs: [{ name: 'output-0' }] }
    const raw = bytes(req)
    const res = await pass(v2, 'POST', `/v2/models/${MODEL}/infer`, raw)
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(JSON.parse(text)).toEqual({ model_name: MODEL, model_version: null, id: 'req-1', parameters: null, outputs: [{ name: 'output-0', shape: [2], datatype: 'INT64', parameters: null, data: [1, 1] }] })
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(res.headers.get('x-upstream-secret-header')).toBeNull()
    const sent = hf.last()
    expect(sent.method).toBe('POST')
    expect(sent.url).toBe(`/v2/models/${MODEL}/infer`)
    expect(Buffer.compare(sent.raw, Buffer.from(raw))).toBe(0)
    expect(sent.headers['content-type']).toBe('application/json')
    expect(sent.headers.authorization).toBeUndefined()
    expect(sent.headers['api-key']).toBeUndefined()
  })

  it('V2 metadata, model readiness and server health are GETs without a body', async () => {
    const meta = await pass(v2, 'GET', `/v2/models/${MODEL}`)
    expect(await meta.json()).toMatchObject({ name: MODEL, platform: 'sklearn', inputs: [{ name: 'input-0', datatype: 'FP32', shape: [-1, 4] }] })
    expect(hf.last().method).toBe('GET')
    expect(hf.last().raw.length).toBe(0)
    expect(await (await pass(v2, 'GET', `/v2/models/${MODEL}/ready`)).json()).toEqual({ name: MODEL, ready: true })
    expect(await (await pass(v2, 'GET', '/v2/health/live')).json()).toEqual({ live: true })
    expect(await (await pass(v2, 'GET', '/v2/health/ready')).json()).toEqual({ ready: true })
  })

  it('V1 predict and V1 model readiness', async () => {
    const res = await pass(v1, 'POST', `/v1/models/${MODEL}:predict`, bytes({ instances: [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]] }))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ predictions: [1, 1] })
    expect(hf.last().body).toEqual({ instances: [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]] })
    expect(await (await pass(v1, 'GET', `/v1/models/${MODEL}`)).json()).toEqual({ name: MODEL, ready: true })
  })

  it("KServe's {\"error\": ...} bodies come back with their status, untouched", async () => {
    const missing = await pass(v2, 'POST', '/v2/models/nope/infer', bytes({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] }))
    expect(missing.status).toBe(404)
    expect(await missing.text()).toBe(JSON.stringify({ error: 'Model with name nope does not exist.' }))
    const bad = await pass(v2, 'POST', `/v2/models/${MODEL}/infer`, bytes({ inputs: [] }))
    expect(bad.status).toBe(400)
    expect(await bad.json()).toEqual({ error: 'Invalid input: inputs[0] needs name, shape, datatype and data' })
    const v1bad = await pass(v1, 'POST', `/v1/models/${MODEL}:predict`, bytes({ rows: [] }))
    expect(v1bad.status).toBe(400)
    expect(await v1bad.json()).toEqual({ error: 'Expected "instances" to be a list' })
  })

  it('anything but the V1/V2 paths is a 404 before any request; a wrong method a 405', async () => {
    const before = hf.requests.length
    for (const [method, path] of [
      ['POST', '/v2/repository/index'],
      ['POST', '/v2/repository/models/x/load'],
      ['GET', '/openai/v1/models'],
      ['POST', '/v1/chat/completions'],
      ['GET', '/metrics'],
      ['GET', '/v2/models/../../admin'],
      ['GET', '/v2/models/../ready'],
      ['GET', '/v2/models/%2e%2E/ready'],
      ['GET', '/v2/models/./ready'],
      ['GET', '/'],
    ] as const) {
      const err = await pass(v2, method, path, method === 'POST' ? bytes({}) : null).catch((e) => e)
      expect(err, `${method} ${path}`).toBeInstanceOf(GatewayError)
      expect((err as GatewayError).status, `${method} ${path}`).toBe(404)
    }
    const wrong = await pass(v2, 'GET', `/v2/models/${MODEL}/infer`).catch((e) => e)
    expect((wrong as GatewayError).status).toBe(405)
    expect(hf.requests.length).toBe(before)
  })

  it('matchKservePath names the model for the allow-list, none for server paths', () => {
    expect(matchKservePath('POST', `/v2/models/${MODEL}/versions/3/infer`)).toEqual({ model: MODEL })
    expect(matchKservePath('GET', '/v2/models/a%2Fb/ready')).toEqual({ model: 'a/b' })
    expect(matchKservePath('POST', '/v1/models/m:explain')).toEqual({ model: 'm' })
    expect(matchKservePath('GET', '/v2/health/ready')).toEqual({ model: undefined })
    expect(matchKservePath('GET', '/v2')).toEqual({ model: undefined })
  })

  it('the body streams through: the response is handed on before the upstream has finished', async () => {
    const t0 = Date.now()
    const res = await pass(v2, 'POST', `/v2/models/${SLOW_MODEL}/infer`, bytes({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] }))
    expect(Date.now() - t0).toBeLessThan(SLOW_MS)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ model_name: SLOW_MODEL, id: 'slow-1', outputs: [{ name: 'output-0', shape: [1], datatype: 'INT64', data: [7] }] })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(SLOW_MS - 20)
  })

  it('the binary tensor data extension: its length header goes both ways, the bytes untouched', async () => {
    const header = new TextEncoder().encode(JSON.stringify({ id: 'bin-7', inputs: [{ name: 'x', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 4 } }] }))
    const raw = new Uint8Array([...header, 0xde, 0xad, 0xbe, 0xef])
    const res = await pass(v2, 'POST', `/v2/models/${MODEL}/infer`, raw.buffer as ArrayBuffer, { contentType: 'application/octet-stream', inferenceHeaderContentLength: String(header.length) })
    const sent = hf.last()
    expect(sent.headers['inference-header-content-length']).toBe(String(header.length))
    expect(sent.headers['content-type']).toBe('application/octet-stream')
    expect(res.headers.get('content-type')).toBe('application/octet-stream')
    const jsonLength = Number(res.headers.get('inference-header-content-length'))
    const out = new Uint8Array(await res.arrayBuffer())
    expect(JSON.parse(new TextDecoder().decode(out.subarray(0, jsonLength)))).toMatchObject({ id: 'bin-7', outputs: [{ parameters: { binary_data_size: 4 } }] })
    expect([...out.subarray(jsonLength)]).toEqual([0xde, 0xad, 0xbe, 0xef])
  })

  it('an unreachable service is a 502 GatewayError', async () => {
    const dead = await backend(`{ serviceName: ${MODEL}, url: "http://127.0.0.1:9", protocol: v2 }`)
    const err = await pass(dead, 'GET', '/v2/health/ready').catch((e) => e)
    expect(err).toBeInstanceOf(GatewayError)
    expect((err as GatewayError).status).toBe(502)
    expect((err as GatewayError).code).toBe('upstream_connection_failed')
  })

  it('a client that is already gone gets no upstream request through', async () => {
    const ctl = new AbortController()
    ctl.abort()
    const err = await pass(v2, 'GET', '/v2/health/ready', null, { signal: ctl.signal }).catch((e) => e)
    expect(err).toBeInstanceOf(GatewayError)
  })
})

describe('kserveReady', () => {
  const ready = (b: Backend) => kserveReady(b, fetch, AbortSignal.timeout(2000))
  afterAll(() => {
    hf.state.ready = true
    vllm.state.ready = true
  })

  it('V2 asks /v2/health/ready, V1 /v1/models/{model}, the OpenAI runtimes {base}/models', async () => {
    const v2 = await backend(`{ serviceName: ${MODEL}, url: "${hf.url}", protocol: v2 }`)
    expect(await ready(v2)).toBe(true)
    expect(hf.last().url).toBe('/v2/health/ready')
    const v1 = await backend(`{ serviceName: ${MODEL}, url: "${hf.url}", protocol: v1 }`)
    expect(await ready(v1)).toBe(true)
    expect(hf.last().url).toBe(`/v1/models/${MODEL}`)
    const oai = await backend(`{ serviceName: llama, url: "${hf.url}" }`)
    expect(await ready(oai)).toBe(true)
    expect(hf.last().url).toBe('/openai/v1/models')
    const native = await backend(`{ serviceName: llama, url: "${vllm.url}", pathPrefix: "" }`)
    expect(await ready(native)).toBe(true)
    expect(vllm.last().url).toBe('/v1/models')
    expect(hf.last().method).toBe('GET')
  })

  it('not ready: {"ready": false} with a 200, a 503, an unknown model, an unreachable service', async () => {
    hf.state.ready = false
    expect(await ready(await backend(`{ serviceName: ${MODEL}, url: "${hf.url}", protocol: v2 }`))).toBe(false)
    expect(await ready(await backend(`{ serviceName: ${MODEL}, url: "${hf.url}", protocol: v1 }`))).toBe(false)
    expect(await ready(await backend(`{ serviceName: llama, url: "${hf.url}" }`))).toBe(false)
    hf.state.ready = true
    expect(await ready(await backend(`{ serviceName: other, url: "${hf.url}", protocol: v1 }`))).toBe(false)
    expect(await ready(await backend(`{ serviceName: llama, url: "http://127.0.0.1:9" }`))).toBe(false)
  })
})
