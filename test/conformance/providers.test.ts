// The native providers on every runtime: Bedrock (SigV4 through aws4fetch,
// the binary event stream and its CRC32s, Titan embeddings), Gemini, Vertex
// (a service-account key signed into an RS256 JWT with crypto.subtle, the
// token cached in the isolate; Claude through rawPredict), Cohere v2 and
// Mistral, each behind the same gateway on Node, workerd (the Worker bundle
// through miniflare, Durable Objects as the StateStore) and Deno, with the
// openai SDK as the client. A subset of the Node e2e suites
// (test/e2e/*-sdk.test.ts): a chat, a stream with usage, a tool call and
// embeddings where the provider has them, failover on a 429 and on a
// context-window error across providers, and the cost record of each. What
// it guards is that the Web-API-only code (crypto.subtle, fetch, streams,
// TextDecoder, CRC32) behaves the same on all three.
//
// Not here, by design: AWS web identity (IRSA: a token file) and the GCE
// metadata server are Node-only credentials (a file system, a link-local
// server inside a cluster), skipped on workerd and Deno; Node covers them in
// test/providers/bedrock-irsa.test.ts and test/providers/gemini-auth.test.ts.
// The Vertex key pair is generated at test time by the test upstream
// (node:crypto), whose token endpoint verifies the JWT's signature.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { IncomingMessage, ServerResponse } from 'node:http'
import OpenAI from 'openai'
import { readJson, startServer, type TestServer } from '../helpers/server.ts'
import { eventually } from '../helpers/kortex.ts'
import { buildWorker, type BuiltWorker } from '../adapters/cloudflare-harness.ts'
import { RUNTIMES, startRuntime, type RunningRuntime } from './runtimes.ts'
import * as bedrock from '../upstreams/bedrock.ts'
import * as gemini from '../upstreams/gemini.ts'
import * as cohere from '../upstreams/cohere.ts'
import * as mistral from '../upstreams/mistral.ts'

const KEY = 'kx-providers-client-key-0123'
const BEDROCK_MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0'

let br: bedrock.BedrockUpstream
let gg: gemini.GeminiUpstream
let co: cohere.CohereUpstream
let mi: mistral.MistralUpstream
let sink: TestServer
const records: any[] = []
let worker: BuiltWorker

const BEDROCK_COST = 'cost: { inputTokenCost: "0.0008", cachedInputTokenCost: "0.00008", cacheWriteTokenCost: "0.001", outputTokenCost: "0.004" }'
const GOOGLE_COST = 'cost: { inputTokenCost: "0.0003", cachedInputTokenCost: "0.000075", outputTokenCost: "0.0025" }'

const doc = (kind: string, name: string, spec: string) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: ${kind}
metadata: { name: ${name} }
spec:
${spec}
`
const backend = (name: string, external: string, cost: string) => doc('InferenceBackend', name, `  type: external\n  external: { ${external} }\n  ${cost}`)
const bedrockBackend = (name: string, mode: string, model = BEDROCK_MODEL) =>
  backend(
    name,
    `url: "${br.base(mode)}", provider: bedrock, region: ${bedrock.REGION}, model: "${model}", accessKeyIdSecret: { name: bedrock-test, key: access-key-id }, secretAccessKeySecret: { name: bedrock-test, key: secret-access-key }, sessionTokenSecret: { name: bedrock-test, key: session-token }`,
    BEDROCK_COST,
  )
const geminiBackend = (name: string, mode: string) => backend(name, `url: "${gg.base(mode)}", provider: gemini, model: gemini-2.5-flash, apiKeySecret: { name: gemini, key: api-key }`, GOOGLE_COST)
const vertexBackend = (name: string, model: string) =>
  backend(name, `url: "${gg.base('ok')}", provider: vertex, model: "${model}", apiKeySecret: { name: vertex-sa, key: key.json }, project: test-project, location: us-central1`, GOOGLE_COST)
const cohereBackend = (name: string, mode: string, model = 'command-a-03-2025') =>
  backend(name, `url: "${co.base(mode)}", provider: cohere, model: ${model}, apiKeySecret: { name: cohere, key: key }`, 'cost: { inputTokenCost: "0.0025", outputTokenCost: "0.01" }')
const mistralBackend = (name: string, mode: string, model = 'mistral-small-latest') =>
  backend(name, `url: "${mi.base(mode)}/v1", provider: mistral, model: ${model}, apiKeySecret: { name: mistral, key: key }`, 'cost: { inputTokenCost: "0.0001", outputTokenCost: "0.0003" }')
const route = (model: string, dflt: string, fallback: string[] = []) =>
  doc('InferenceRoute', `r-${model}`, `  models: [${model}]\n  defaultBackend: { name: ${dflt} }\n  fallback: { backends: [${fallback.join(', ')}] }\n  failover: { initialBackoffMs: 0, maxBackoffMs: 0 }`)

/** One gateway for every provider: backends per upstream behaviour, routes by model name. */
const config = () =>
  `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: providers }
spec:
  accessLog: false
  auth: { keys: [{ name: providers, keyEnv: PROVIDERS_KEY, team: native }] }
  cost:
    sink: { url: "${sink.url}", batchSize: 1, flushSeconds: 0.1 }
` +
  [
    bedrockBackend('br-ok', 'ok'),
    bedrockBackend('br-tool', 'tool'),
    bedrockBackend('br-throttle', 'throttle'),
    bedrockBackend('br-stream-throttle', 'stream-throttle'),
    bedrockBackend('br-titan', 'ok', 'amazon.titan-embed-text-v2:0'),
    geminiBackend('gemini-ok', 'ok'),
    geminiBackend('gemini-context', 'context'),
    vertexBackend('vertex-ok', 'gemini-2.5-flash'),
    vertexBackend('vertex-claude', 'claude-sonnet-4-5@20250929'),
    cohereBackend('co-ok', 'ok'),
    cohereBackend('co-tool', 'tool'),
    cohereBackend('co-429', '429'),
    cohereBackend('co-embed', 'ok', 'embed-v4.0'),
    mistralBackend('mi-ok', 'ok'),
    mistralBackend('mi-tool', 'tool'),
    mistralBackend('mi-context', 'context'),
    mistralBackend('mi-embed', 'ok', 'mistral-embed'),
    route('bedrock', 'br-ok'),
    route('bedrock-tool', 'br-tool'),
    route('titan', 'br-titan'),
    route('gemini', 'gemini-ok'),
    route('vertex', 'vertex-ok'),
    route('vertex-claude', 'vertex-claude'),
    route('cohere', 'co-ok'),
    route('cohere-tool', 'co-tool'),
    route('cohere-embed', 'co-embed'),
    route('mistral', 'mi-ok'),
    route('mistral-tool', 'mi-tool'),
    route('mistral-embed', 'mi-embed'),
    route('bedrock-throttled', 'br-throttle', ['gemini-ok']),
    route('bedrock-stream-throttled', 'br-stream-throttle', ['vertex-ok']),
    route('gemini-too-long', 'gemini-context', ['mi-ok']),
    route('cohere-busy', 'co-429', ['br-ok']),
    route('mistral-too-long', 'mi-context', ['co-ok']),
  ].join('')

const env = () => ({
  PROVIDERS_KEY: KEY,
  BEDROCK_TEST_ACCESS_KEY_ID: bedrock.CREDS.accessKeyId,
  BEDROCK_TEST_SECRET_ACCESS_KEY: bedrock.CREDS.secretAccessKey,
  BEDROCK_TEST_SESSION_TOKEN: bedrock.CREDS.sessionToken,
  GEMINI_API_KEY: gemini.API_KEY,
  VERTEX_SA_KEY_JSON: gg.serviceAccount,
  COHERE_KEY: 'cohere-test-key-not-a-real-one',
  MISTRAL_KEY: 'mistral-test-key-not-a-real-one',
})

beforeAll(async () => {
  ;[br, gg, co, mi, worker] = await Promise.all([bedrock.startBedrockUpstream(), gemini.startGeminiUpstream(), cohere.startCohereUpstream(), mistral.startMistralUpstream(), buildWorker()])
  sink = await startServer(async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readJson(req)
    records.push(...(body?.records ?? []))
    res.writeHead(204).end()
  })
}, 60_000)

afterAll(async () => {
  await Promise.all([br?.close(), gg?.close(), co?.close(), mi?.close(), sink?.close()])
  await worker?.remove()
})

const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } } }]

interface Provider {
  name: string
  model: string
  backend: string
  /** The text and usage the test upstream answers with, as the client sees them. */
  text: string
  usage: { prompt_tokens: number; completion_tokens: number }
  /** The cost record of one answer, whole or streamed. */
  cost: Record<string, unknown>
  /** What the upstream saw of the last request: the right endpoint, the backend's credentials. */
  sent(stream: boolean): void
  tool?: { model: string; backend: string; id?: string; args: object }
  embed?: { model: string; backend: string; vectors: number[][]; promptTokens?: number }
}

const bedrockCost = { inputTokens: 135, outputTokens: 15, cachedInputTokens: 100, cost: '0.000098' }
const googleCost = { inputTokens: 120, outputTokens: 20, cachedInputTokens: 100, cost: '0.0000635' }
const INPUT = ['one two', 'three']

const PROVIDERS: Provider[] = [
  {
    name: 'bedrock',
    model: 'bedrock',
    backend: 'br-ok',
    text: 'Hello from ok',
    usage: { prompt_tokens: 135, completion_tokens: 15 },
    cost: bedrockCost,
    sent: (stream) => {
      // The upstream re-signs every request with aws4fetch under the known keys: this one's SigV4 held.
      expect(br.last!.signed).toBe(true)
      expect(br.last!.path).toBe(`/mode/ok/model/${encodeURIComponent(BEDROCK_MODEL)}/${stream ? 'converse-stream' : 'converse'}`)
      expect(br.last!.headers['x-amz-security-token']).toBe(bedrock.CREDS.sessionToken)
    },
    tool: { model: 'bedrock-tool', backend: 'br-tool', id: bedrock.TOOL_USE_ID, args: bedrock.WEATHER_INPUT },
    embed: { model: 'titan', backend: 'br-titan', vectors: INPUT.map((t) => [0.125, -0.5, t.length / 100]), promptTokens: 3 },
  },
  {
    name: 'gemini',
    model: 'gemini',
    backend: 'gemini-ok',
    text: 'Hello from ok',
    usage: { prompt_tokens: 120, completion_tokens: 20 },
    cost: googleCost,
    sent: (stream) => {
      expect(gg.last!.path).toBe(`/v1beta/models/gemini-2.5-flash:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`)
      expect(gg.last!.headers['x-goog-api-key']).toBe(gemini.API_KEY)
    },
    tool: { model: 'gemini', backend: 'gemini-ok', args: gemini.WEATHER_ARGS },
    embed: { model: 'gemini', backend: 'gemini-ok', vectors: INPUT.map((t, i) => [i, t.length, 0.5]) },
  },
  {
    name: 'vertex (service-account key)',
    model: 'vertex',
    backend: 'vertex-ok',
    text: 'Hello from ok',
    usage: { prompt_tokens: 120, completion_tokens: 20 },
    cost: googleCost,
    sent: (stream) => {
      expect(gg.last!.path).toBe(`/v1/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`)
      // Issued by the upstream's token endpoint only for a JWT whose RS256 signature verified.
      expect(gg.last!.headers.authorization).toMatch(/^Bearer ya29\.test-\d+$/)
    },
    tool: { model: 'vertex', backend: 'vertex-ok', args: gemini.WEATHER_ARGS },
    embed: { model: 'vertex', backend: 'vertex-ok', vectors: INPUT.map((t, i) => [i, t.length, 0.25]) },
  },
  {
    name: 'Claude on vertex (rawPredict)',
    model: 'vertex-claude',
    backend: 'vertex-claude',
    text: 'Hello from Claude',
    usage: { prompt_tokens: 20, completion_tokens: 6 },
    // 20 × 0.0000003 + 6 × 0.0000025
    cost: { inputTokens: 20, outputTokens: 6, cost: '0.000021' },
    sent: (stream) => {
      expect(gg.last!.path).toBe(`/v1/projects/test-project/locations/us-central1/publishers/anthropic/models/claude-sonnet-4-5@20250929:${stream ? 'streamRawPredict' : 'rawPredict'}`)
      expect(gg.last!.headers.authorization).toMatch(/^Bearer ya29\.test-\d+$/)
    },
  },
  {
    name: 'cohere',
    model: 'cohere',
    backend: 'co-ok',
    text: 'Hello from ok',
    usage: { prompt_tokens: 12, completion_tokens: 7 },
    cost: { inputTokens: 12, outputTokens: 7, cost: '0.0001' },
    sent: (stream) => {
      expect(co.last!.path).toBe('/mode/ok/v2/chat')
      expect(co.last!.body.stream).toBe(stream)
      expect(co.last!.headers.authorization).toBe('Bearer cohere-test-key-not-a-real-one')
    },
    tool: { model: 'cohere-tool', backend: 'co-tool', id: cohere.TOOL_CALL_ID, args: cohere.WEATHER_ARGS },
    embed: { model: 'cohere-embed', backend: 'co-embed', vectors: INPUT.map(cohere.vectorOf), promptTokens: 3 },
  },
  {
    name: 'mistral',
    model: 'mistral',
    backend: 'mi-ok',
    text: 'Hello from ok',
    usage: { prompt_tokens: 20, completion_tokens: 10 },
    cost: { inputTokens: 20, outputTokens: 10, cost: '0.000005' },
    sent: (stream) => {
      expect(mi.last!.path).toBe('/mode/ok/v1/chat/completions')
      expect(!!mi.last!.body.stream).toBe(stream)
      expect(mi.last!.headers.authorization).toBe('Bearer mistral-test-key-not-a-real-one')
    },
    tool: { model: 'mistral-tool', backend: 'mi-tool', id: mistral.MISTRAL_TOOL_ID, args: mistral.WEATHER_ARGS },
    embed: { model: 'mistral-embed', backend: 'mi-embed', vectors: INPUT.map(mistral.vectorOf), promptTokens: 6 },
  },
]

/** Failover across providers: the first backend fails in the way named, the second answers. */
const FAILOVERS = [
  { what: "Bedrock's ThrottlingException (429) → Gemini", model: 'bedrock-throttled', stream: false, backend: 'gemini-ok' },
  { what: "Bedrock's throttlingException inside the event stream → Vertex", model: 'bedrock-stream-throttled', stream: true, backend: 'vertex-ok' },
  { what: "Gemini's INVALID_ARGUMENT, input token count too big (context window) → Mistral", model: 'gemini-too-long', stream: false, backend: 'mi-ok' },
  { what: "Cohere's 429 → Bedrock", model: 'cohere-busy', stream: true, backend: 'br-ok' },
  { what: "Mistral's context-length 400 → Cohere", model: 'mistral-too-long', stream: false, backend: 'co-ok' },
]

/** The cost record of a request, once the sink has it. */
async function costRecord(response: Response): Promise<any> {
  const id = response.headers.get('x-request-id')!
  expect(id).toBeTruthy()
  await eventually(() => records.some((r) => r.requestId === id), 5000)
  return records.find((r) => r.requestId === id)
}

/** Vectors as sent, within float32 (the SDK asks for base64 float32 and decodes it). */
function expectVectors(got: number[][], want: number[][]) {
  expect(got.map((v) => v.length)).toEqual(want.map((v) => v.length))
  got.forEach((v, i) => v.forEach((x, j) => expect(x).toBeCloseTo(want[i]![j]!, 6)))
}

describe.each(RUNTIMES)('native providers on %s', (runtime) => {
  let k: RunningRuntime
  let client: OpenAI
  let tokensAtStart: number

  beforeAll(async () => {
    tokensAtStart = gg.tokenRequests.length
    k = await startRuntime(runtime, config(), { worker, env: env() })
    client = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: KEY, maxRetries: 0 })
  }, 60_000)

  afterAll(async () => {
    await k?.close()
  })

  // First, before any other Vertex call: a cold cache met by concurrent requests (on workerd, requests
  // of one isolate awaiting a token exchange another request started).
  it('Vertex: concurrent first calls share one service-account JWT exchange, and its token serves later calls', async () => {
    const ask = () => client.chat.completions.create({ model: 'vertex', messages: [{ role: 'user', content: 'hi' }] })
    const answers = await Promise.all([ask(), ask(), ask()])
    expect(answers.map((a) => a.choices[0]!.message.content)).toEqual(['Hello from ok', 'Hello from ok', 'Hello from ok'])
    await ask()
    expect(gg.tokenRequests.length - tokensAtStart).toBe(1)
    expect(gg.tokenRequests.at(-1)).toMatchObject({ iss: 'kortex@test-project.iam.gserviceaccount.com', scope: gemini.SCOPE, aud: `${gg.url}/token` })
  })

  describe.each(PROVIDERS)('$name', (p) => {
    it('chat: the answer, its usage, and a cost record priced from it', async () => {
      const { data, response } = await client.chat.completions.create({ model: p.model, messages: [{ role: 'user', content: `hi from ${runtime}` }] }).withResponse()
      expect(response.headers.get('x-kortex-backend')).toBe(p.backend)
      expect(data.choices[0]!.message.content).toBe(p.text)
      expect(data.choices[0]!.finish_reason).toBe('stop')
      expect(data.usage).toMatchObject(p.usage)
      p.sent(false)
      expect(await costRecord(response)).toMatchObject({ route: `r-${p.model}`, model: p.model, backend: p.backend, status: 200, estimated: false, currency: 'USD', attribution: { team: 'native', key: 'providers' }, ...p.cost })
    })

    it('stream with include_usage: text deltas, finish, the usage chunk last, and the same cost', async () => {
      const { data: stream, response } = await client.chat.completions.create({ model: p.model, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'stream please' }] }).withResponse()
      expect(response.headers.get('x-kortex-backend')).toBe(p.backend)
      const chunks: OpenAI.ChatCompletionChunk[] = []
      for await (const c of stream) chunks.push(c)
      expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(p.text)
      expect(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0]!.finish_reason).toBe('stop')
      expect(chunks.filter((c) => c.usage)).toHaveLength(1)
      expect(chunks.at(-1)!.usage).toMatchObject(p.usage)
      p.sent(true)
      expect(await costRecord(response)).toMatchObject({ backend: p.backend, status: 200, estimated: false, ...p.cost })
    })

    if (p.tool) it('a tool call, whole and streamed', async () => {
      const t = p.tool!
      const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'weather?' }]
      const { data, response } = await client.chat.completions.create({ model: t.model, messages, tools }).withResponse()
      expect(response.headers.get('x-kortex-backend')).toBe(t.backend)
      const call = data.choices[0]!.message.tool_calls![0]!
      expect(data.choices[0]!.finish_reason).toBe('tool_calls')
      expect(call.type === 'function' && [call.function.name, JSON.parse(call.function.arguments)]).toEqual(['get_weather', t.args])
      if (t.id) expect(call.id).toBe(t.id)
      const final = await client.chat.completions.stream({ model: t.model, messages, tools }).finalChatCompletion()
      const streamed = final.choices[0]!.message.tool_calls![0]!
      expect(final.choices[0]!.finish_reason).toBe('tool_calls')
      expect(streamed.type === 'function' && [streamed.function.name, JSON.parse(streamed.function.arguments)]).toEqual(['get_weather', t.args])
    })

    if (p.embed) it('embeddings, in order, decoded by the SDK', async () => {
      const e = p.embed!
      const { data, response } = await client.embeddings.create({ model: e.model, input: INPUT }).withResponse()
      expect(response.headers.get('x-kortex-backend')).toBe(e.backend)
      expect(data.data.map((d) => d.index)).toEqual([0, 1])
      expectVectors(
        data.data.map((d) => d.embedding),
        e.vectors,
      )
      if (e.promptTokens !== undefined) expect(data.usage.prompt_tokens).toBe(e.promptTokens)
    })
  })

  describe.each(FAILOVERS)('failover: $what', (f) => {
    it('the next provider answers; the cost record names it and the two attempts', async () => {
      const messages = [{ role: 'user' as const, content: 'fail over' }]
      let text: string
      let response: Response
      if (f.stream) {
        const r = await client.chat.completions.create({ model: f.model, stream: true, messages }).withResponse()
        response = r.response
        text = ''
        for await (const c of r.data) text += c.choices[0]?.delta.content ?? ''
      } else {
        const r = await client.chat.completions.create({ model: f.model, messages }).withResponse()
        response = r.response
        text = r.data.choices[0]!.message.content!
      }
      expect(text).toBe('Hello from ok')
      expect(response.headers.get('x-kortex-backend')).toBe(f.backend)
      expect(response.headers.get('x-kortex-attempts')).toBe('2')
      expect(await costRecord(response)).toMatchObject({ route: `r-${f.model}`, backend: f.backend, status: 200, attempts: 2, estimated: false })
    })
  })
})
