// The same gateway behind every client API (issue 18): one Kortex, one
// config, and each scenario run through Chat Completions, the Responses API
// and the Messages API alike: header rules, failover (streams too), rate
// limits and budgets refused in each API's own words, cost records priced
// from the upstreams' usage over translated and native backends, spend,
// access lines, experiments and the request counter. A client's API must
// change only the wire shape, never what the gateway does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SpanKind, trace } from '@opentelemetry/api'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { startAnthropicUpstream, type AnthropicUpstream } from '../upstreams/anthropic.ts'
import { startOpenAIUpstream, type OpenAIUpstream } from '../upstreams/openai.ts'
import { RESPONSES_USAGE } from '../upstreams/openai-responses.ts'
import { eventually, startTestKortex, type TestKortex } from '../helpers/kortex.ts'
import { usageOf } from '../../src/usage/record.ts'
import type { Backend } from '../../src/config/compile.ts'

type Api = 'chat' | 'responses' | 'messages'
const APIS: Api[] = ['chat', 'responses', 'messages']
const PATHS: Record<Api, string> = { chat: '/v1/chat/completions', responses: '/v1/responses', messages: '/v1/messages' }

const ALICE = 'kx-every-alice-0001' // team growth
const BOB = 'kx-every-bob-00001' // no team: attribution comes from headers
const BROKE = 'kx-every-broke-0001' // team broke, whose budget is smaller than what a long answer could cost
const ADMIN = 'kx-every-admin-0001'

// Prices per 1K tokens as the config writes them; per token that is price × 1e6 nano-units.
const OA_PRICES = { inputTokenCost: '0.0025', cachedInputTokenCost: '0.00125', outputTokenCost: '0.01' }
const AN_PRICES = { inputTokenCost: '0.003', cachedInputTokenCost: '0.0003', cacheWriteTokenCost: '0.00375', outputTokenCost: '0.015' }
type Prices = { inputTokenCost: string; cachedInputTokenCost: string; cacheWriteTokenCost?: string; outputTokenCost: string }
const perToken = (price: string) => Math.round(Number(price) * 1e6)

/** Usage as an upstream reports it, in the gateway's terms: input counts every prompt token, cached and written included. */
interface Usage {
  input: number
  output: number
  cached: number
  written: number
}
// The test upstreams' fixed figures. Chat Completions: 9 in, 12 out (9 in, 3 out in a stream's usage chunk);
// the Responses API: RESPONSES_USAGE; Anthropic: 25 plain input + 100 cache reads + 10 cache writes, 15 out.
const ANTHROPIC_USAGE = { input_tokens: 25, cache_creation_input_tokens: 10, cache_read_input_tokens: 100, output_tokens: 15 }
const OA_JSON: Usage = { input: 9, output: 12, cached: 0, written: 0 }
const OA_STREAM: Usage = { input: 9, output: 3, cached: 0, written: 0 }
const OA_RESPONSES: Usage = { input: RESPONSES_USAGE.input_tokens, output: RESPONSES_USAGE.output_tokens, cached: RESPONSES_USAGE.input_tokens_details.cached_tokens, written: 0 }
const AN: Usage = {
  input: ANTHROPIC_USAGE.input_tokens + ANTHROPIC_USAGE.cache_read_input_tokens + ANTHROPIC_USAGE.cache_creation_input_tokens,
  output: ANTHROPIC_USAGE.output_tokens,
  cached: ANTHROPIC_USAGE.cache_read_input_tokens,
  written: ANTHROPIC_USAGE.cache_creation_input_tokens,
}

/** What the prices say a request with `u` costs, in nano-units. */
function priced(p: Prices, u: Usage): number {
  const plain = u.input - u.cached - u.written
  return plain * perToken(p.inputTokenCost) + u.cached * perToken(p.cachedInputTokenCost) + u.written * perToken(p.cacheWriteTokenCost ?? p.inputTokenCost) + u.output * perToken(p.outputTokenCost)
}
/** Nano-units as a decimal string (0.0003675), as x-kortex-cost and /v1/spend write amounts. */
const decimal = (nano: number) => (nano / 1e9).toFixed(9).replace(/\.?0+$/, '')

let anthropic: AnthropicUpstream
let openaiUp: OpenAIUpstream
let k: TestKortex

// A backend is priced by its provider; an OpenAI one named *native* serves the Responses API itself (responsesApi: native).
const cost = (p: Prices) => `  cost: { ${Object.entries(p).map(([n, v]) => `${n}: "${v}"`).join(', ')}, currency: USD }\n`
const backend = (name: string, url: string, provider: string, extra = '') => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: ${name} }
spec:
  type: external
  external: { url: ${url}, provider: ${provider}, apiKeySecret: { name: ${provider}, key: key }${provider === 'openai' && name.includes('native') ? ', responsesApi: native' : ''} }
${cost(provider === 'anthropic' ? AN_PRICES : OA_PRICES)}${extra}`
const route = (name: string, spec: string) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: ${name} }
spec:
  models: [${name}]
${spec}`
const noBreaker = '  circuitBreaker: { enabled: false }\n'

const config = () =>
  `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec:
  auth:
    keys:
      - { name: alice, key: ${ALICE}, team: growth }
      - { name: bob, key: ${BOB} }
      - { name: broke, key: ${BROKE}, team: broke }
      - { name: admin, key: ${ADMIN}, admin: true }
  budgets:
    - { scope: team, name: broke, amount: "0.02", period: day }
  cost: { header: true }
` +
  backend('oa-ok', openaiUp.base('ok'), 'openai') +
  backend('oa-b', openaiUp.base('ok'), 'openai') +
  backend('oa-native', openaiUp.base('ok'), 'openai') +
  backend('an-ok', anthropic.base('ok'), 'anthropic') +
  backend('oa-503', openaiUp.base('503'), 'openai', noBreaker) +
  APIS.map((api) => backend(`oa-429-${api}`, openaiUp.base('429'), 'openai', noBreaker)).join('') +
  backend('an-529', anthropic.base('529'), 'anthropic', noBreaker) +
  // One failure opens each breaker for the rest of the test; one backend per API, so each API trips its own.
  APIS.map((api) => backend(`oa-tripped-${api}`, openaiUp.base('503'), 'openai', '  circuitBreaker: { consecutiveFailures: 1, cooldownSeconds: 600, maxCooldownSeconds: 600 }\n')).join('') +
  route('every-rule', '  defaultBackend: { name: oa-ok }\n  rules:\n    - { name: lane-b, match: { headers: { x-lane: b } }, backends: [{ name: oa-b }] }\n') +
  route('every-503', '  defaultBackend: { name: oa-503 }\n  failover: { chain: [an-ok], maxRetries: 0 }\n') +
  APIS.map((api) => route(`every-429-${api}`, `  defaultBackend: { name: oa-429-${api} }\n  failover: { chain: [oa-ok], maxRetries: 0 }\n`)).join('') +
  route('every-529', '  defaultBackend: { name: an-529 }\n  failover: { chain: [oa-native], maxRetries: 0 }\n') +
  route('every-retry', '  defaultBackend: { name: oa-503 }\n  failover: { chain: [an-ok], maxRetries: 1, initialBackoffMs: 0, maxBackoffMs: 0 }\n') +
  route('every-down', '  defaultBackend: { name: oa-503 }\n  failover: { enabled: false }\n') +
  APIS.map((api) => route(`every-tripped-${api}`, `  defaultBackend: { name: oa-tripped-${api} }\n  failover: { chain: [an-ok], maxRetries: 0 }\n`)).join('') +
  route('every-tokens', '  defaultBackend: { name: an-ok }\n  rateLimit: { tokensPerDay: 1000000, perUser: true }\n') +
  route('every-tokens-native', '  defaultBackend: { name: oa-native }\n  rateLimit: { tokensPerDay: 1000000, perUser: true }\n') +
  route('every-limited', '  defaultBackend: { name: oa-ok }\n  rateLimit: { requestsPerMinute: 2, perUser: true }\n') +
  route('every-oa', '  defaultBackend: { name: oa-ok }\n') +
  route('every-an', '  defaultBackend: { name: an-ok }\n') +
  route('every-native', '  defaultBackend: { name: oa-native }\n') +
  route('every-exp', '  defaultBackend: { name: oa-ok }\n') +
  route('every-counted', '  defaultBackend: { name: oa-b }\n') +
  `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceExperiment
metadata: { name: every-exp-split }
spec:
  route: every-exp
  trafficPercent: 100
  variants: [{ name: a, backend: oa-ok }, { name: b, backend: oa-b }]
`

beforeAll(async () => {
  process.env.ANTHROPIC_KEY = 'test-ant-upstream'
  process.env.OPENAI_KEY = 'test-openai-upstream'
  anthropic = await startAnthropicUpstream()
  openaiUp = await startOpenAIUpstream()
  k = await startTestKortex(config())
})
afterAll(async () => {
  await k?.close()
  await anthropic?.close()
  await openaiUp?.close()
})

/** One request in `api`'s own shape, as its clients send it. */
function send(api: Api, model: string, opts: { stream?: boolean; key?: string; headers?: Record<string, string>; maxTokens?: number } = {}): Promise<Response> {
  const stream = opts.stream ?? false
  const max = opts.maxTokens ?? 64
  const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${opts.key ?? ALICE}`, ...opts.headers }
  const messages = [{ role: 'user', content: 'Hello' }]
  let body: Record<string, unknown>
  if (api === 'chat') body = { model, messages, stream, max_tokens: max }
  else if (api === 'responses') body = { model, input: 'Hello', stream, store: false, max_output_tokens: max }
  else {
    body = { model, max_tokens: max, messages, stream }
    headers['anthropic-version'] = '2023-06-01'
  }
  return fetch(`${k.url}${PATHS[api]}`, { method: 'POST', headers, body: JSON.stringify(body) })
}

/** The answer's text as the client reads it, from a whole body or an event stream in `api`'s shape. */
async function textOf(api: Api, res: Response): Promise<string> {
  const text = await res.text()
  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) {
    const b = JSON.parse(text)
    if (api === 'chat') return b.choices[0].message.content
    if (api === 'responses') return b.output.flatMap((i: any) => i.content ?? []).map((c: any) => c.text ?? '').join('')
    return b.content.map((c: any) => c.text ?? '').join('')
  }
  const events = text
    .split('\n')
    .filter((l) => l.startsWith('data: ') && l !== 'data: [DONE]')
    .map((l) => JSON.parse(l.slice(6)))
  if (api === 'chat') return events.map((e) => e.choices?.[0]?.delta?.content ?? '').join('')
  if (api === 'responses') return events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('')
  return events.filter((e) => e.type === 'content_block_delta' && e.delta.type === 'text_delta').map((e) => e.delta.text).join('')
}

const recordOf = async (type: string, requestId: string | null): Promise<Record<string, any>> => {
  const find = () => k.records.find((r) => r.type === type && r.requestId === requestId)
  await eventually(() => find() !== undefined)
  return find()!
}

describe.each(APIS)('through the %s API', (api) => {
  it('a header rule routes to its backend, named in x-kortex-route/-rule/-backend and the access line', async () => {
    const res = await send(api, 'every-rule', { headers: { 'x-lane': 'b' } })
    expect(res.status).toBe(200)
    expect(await textOf(api, res)).toBe('Hello from ok')
    expect([res.headers.get('x-kortex-route'), res.headers.get('x-kortex-rule'), res.headers.get('x-kortex-backend')]).toEqual(['every-rule', 'lane-b', 'oa-b'])
    expect(await recordOf('access', res.headers.get('x-request-id'))).toMatchObject({ status: 200, path: PATHS[api], route: 'every-rule', rule: 'lane-b', backend: 'oa-b', model: 'every-rule', attempts: 1 })

    const plain = await send(api, 'every-rule')
    await plain.text()
    expect(plain.headers.get('x-kortex-backend')).toBe('oa-ok')
  })

  it.each([false, true])('a 503 from the primary fails over to the fallback (stream: %s), two attempts', async (stream) => {
    const res = await send(api, 'every-503', { stream })
    expect(res.status).toBe(200)
    expect(await textOf(api, res)).toBe('Hello from ok')
    expect(res.headers.get('x-kortex-backend')).toBe('an-ok')
    expect(res.headers.get('x-kortex-attempts')).toBe('2')
    const line = await recordOf('access', res.headers.get('x-request-id'))
    expect(line).toMatchObject({ route: 'every-503', backend: 'an-ok', model: 'every-503', attempts: 2, stream })
    expect(line.failures).toEqual([expect.objectContaining({ backend: 'oa-503', status: 503 })])
  })

  it('a 429 from the primary fails over too', async () => {
    const res = await send(api, `every-429-${api}`)
    expect(res.status).toBe(200)
    expect(await textOf(api, res)).toBe('Hello from ok')
    expect([res.headers.get('x-kortex-backend'), res.headers.get('x-kortex-attempts')]).toEqual(['oa-ok', '2'])
  })

  it.each([false, true])('an Anthropic 529 fails over to a native Responses backend (stream: %s)', async (stream) => {
    const res = await send(api, 'every-529', { stream })
    expect(res.status).toBe(200)
    expect(await textOf(api, res)).toBe('Hello from ok')
    expect([res.headers.get('x-kortex-backend'), res.headers.get('x-kortex-attempts')]).toEqual(['oa-native', '2'])
  })

  it('a retry on the same backend comes before the fallback: three attempts', async () => {
    const res = await send(api, 'every-retry')
    expect(res.status).toBe(200)
    expect([res.headers.get('x-kortex-backend'), res.headers.get('x-kortex-attempts')]).toEqual(['an-ok', '3'])
    const line = await recordOf('access', res.headers.get('x-request-id'))
    expect(line.failures.map((f: any) => f.backend)).toEqual(['oa-503', 'oa-503'])
  })

  it('an open breaker sends the next request straight to the fallback', async () => {
    const first = await send(api, `every-tripped-${api}`)
    await first.text()
    expect([first.headers.get('x-kortex-backend'), first.headers.get('x-kortex-attempts')]).toEqual(['an-ok', '2'])
    const second = await send(api, `every-tripped-${api}`)
    expect(await textOf(api, second)).toBe('Hello from ok')
    expect([second.headers.get('x-kortex-backend'), second.headers.get('x-kortex-attempts')]).toEqual(['an-ok', '1'])
  })

  // An upstream's 503 is overload: a Messages client gets Anthropic's answer to it, 529 overloaded_error, and the access line says so.
  it("with every backend failing, a 502 (Messages: 529) that names the upstream's failure, in the API's shape, and the access line", async () => {
    const status = api === 'messages' ? 529 : 502
    const res = await send(api, 'every-down')
    expect(res.status).toBe(status)
    expect(res.headers.get('x-kortex-attempts')).toBe('1')
    const body = (await res.json()) as any
    if (api === 'messages') expect(body).toMatchObject({ type: 'error', error: { type: 'overloaded_error', message: expect.stringContaining('HTTP 503') } })
    else expect(body.error).toMatchObject({ code: 'upstream_server_error', message: expect.stringContaining('HTTP 503') })
    expect(await recordOf('access', res.headers.get('x-request-id'))).toMatchObject({ status, error: 'upstream_server_error', path: PATHS[api], route: 'every-down', model: 'every-down', attempts: 1 })
  })

  it("a rate limit refuses the third request in the API's own shape, with Retry-After", async () => {
    const user = { 'x-user-id': `user-${api}` }
    for (let i = 0; i < 2; i++) expect((await send(api, 'every-limited', { headers: user })).status).toBe(200)
    const res = await send(api, 'every-limited', { headers: user })
    expect(res.status).toBe(429)
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    const body = (await res.json()) as any
    if (api === 'messages') expect(body).toMatchObject({ type: 'error', error: { type: 'rate_limit_error', message: expect.any(String) } })
    else expect(body.error).toMatchObject({ code: 'rate_limit_exceeded', message: expect.any(String) })
    expect(res.headers.get('x-kortex-attempts')).toBeNull() // refused before any upstream call
  })

  // The limit reserves the prompt and max_tokens up front and settles to the usage the upstream reported: two
  // identical requests reserve alike, so their remaining tokens differ by what the first really used.
  // Only a Responses client reaches the OpenAI backend natively.
  const tokenCases: Array<[string, Usage]> = [['every-tokens', AN], ...(api === 'responses' ? [['every-tokens-native', OA_RESPONSES] as [string, Usage]] : [])]
  it.each(tokenCases)('a token limit (%s) is settled to the tokens the upstream reported', async (model, usage) => {
    const user = { 'x-user-id': `tokens-${api}` }
    const first = await send(api, model, { headers: user })
    expect(first.status).toBe(200)
    await first.text()
    await recordOf('cost', first.headers.get('x-request-id')) // accounted: the settlement is in
    const second = await send(api, model, { headers: user })
    await second.text()
    const used = Number(first.headers.get('x-ratelimit-remaining-tokens')) - Number(second.headers.get('x-ratelimit-remaining-tokens'))
    // A day's limit refills about one token every 86 ms: allow for that much time between the two.
    expect(used).toBeGreaterThanOrEqual(usage.input + usage.output - 2)
    expect(used).toBeLessThanOrEqual(usage.input + usage.output)
  })

  it("a budget a request could overrun refuses it with 402 in the API's own shape", async () => {
    // 4,096 output tokens at 0.01 per 1K could cost 0.041: more than the team's 0.02 a day.
    const res = await send(api, 'every-oa', { key: BROKE, maxTokens: 4096 })
    expect(res.status).toBe(402)
    const body = (await res.json()) as any
    if (api === 'messages') expect(body).toMatchObject({ type: 'error', error: { type: 'billing_error', message: expect.stringMatching(/budget/i) } })
    else expect(body.error).toMatchObject({ code: 'budget_exceeded', message: expect.stringMatching(/budget/i) })
  })

  it('an experiment assigns a variant, named in the headers and the access line, and its backend serves', async () => {
    const res = await send(api, 'every-exp', { headers: { 'x-user-id': `subject-${api}` } })
    expect(res.status).toBe(200)
    await res.text()
    expect(res.headers.get('x-kortex-experiment')).toBe('every-exp-split')
    const variant = res.headers.get('x-kortex-variant')
    expect(['a', 'b']).toContain(variant)
    expect(res.headers.get('x-kortex-backend')).toBe(variant === 'a' ? 'oa-ok' : 'oa-b')
    expect(await recordOf('access', res.headers.get('x-request-id'))).toMatchObject({ route: 'every-exp', experiment: 'every-exp-split', variant })
  })
})

// Which backends each API reaches translated or natively, and the usage the upstream reports there.
const COST_CASES: Array<{ api: Api; model: string; backend: string; how: string; prices: Prices; whole: Usage; streamed: Usage }> = [
  { api: 'chat', model: 'every-oa', backend: 'oa-ok', how: 'as it came', prices: OA_PRICES, whole: OA_JSON, streamed: OA_STREAM },
  { api: 'chat', model: 'every-an', backend: 'an-ok', how: 'translated', prices: AN_PRICES, whole: AN, streamed: AN },
  { api: 'responses', model: 'every-oa', backend: 'oa-ok', how: 'translated', prices: OA_PRICES, whole: OA_JSON, streamed: OA_STREAM },
  { api: 'responses', model: 'every-native', backend: 'oa-native', how: 'native', prices: OA_PRICES, whole: OA_RESPONSES, streamed: OA_RESPONSES },
  { api: 'responses', model: 'every-an', backend: 'an-ok', how: 'translated', prices: AN_PRICES, whole: AN, streamed: AN },
  { api: 'messages', model: 'every-oa', backend: 'oa-ok', how: 'translated', prices: OA_PRICES, whole: OA_JSON, streamed: OA_STREAM },
  { api: 'messages', model: 'every-an', backend: 'an-ok', how: 'native', prices: AN_PRICES, whole: AN, streamed: AN },
]
const TEAM = 'every-cost-team'
/** What each API's requests should have cost, summed as the cases above run (the /v1/spend case runs after them). */
const spent: Record<Api, number> = { chat: 0, responses: 0, messages: 0 }
const counted: Record<Api, number> = { chat: 0, responses: 0, messages: 0 }

describe('cost records, priced from what the upstream reported', () => {
  it.each(COST_CASES.flatMap((c) => [false, true].map((stream) => ({ ...c, stream }))))(
    '$api to $backend ($how, stream: $stream): tokens, cached tokens, cost and attribution',
    async ({ api, model, backend, prices, whole, streamed, stream }) => {
      const usage = stream ? streamed : whole
      const res = await send(api, model, { stream, key: BOB, headers: { 'x-team-id': TEAM, 'x-feature-id': api } })
      expect(res.status).toBe(200)
      const body = await res.text()
      expect(res.headers.get('x-kortex-backend')).toBe(backend)
      // A Messages client over Anthropic gets the upstream's answer as it was: its usage is the upstream's own.
      if (api === 'messages' && backend === 'an-ok' && !stream) expect(JSON.parse(body).usage).toMatchObject(ANTHROPIC_USAGE)
      const want = priced(prices, usage)
      if (!stream) expect(res.headers.get('x-kortex-cost')).toBe(decimal(want))
      const record = await recordOf('cost', res.headers.get('x-request-id'))
      expect(record).toMatchObject({
        route: model,
        backend,
        model,
        inputTokens: usage.input,
        outputTokens: usage.output,
        costNano: want,
        cost: decimal(want),
        currency: 'USD',
        estimated: false,
        status: 200,
        attribution: { key: 'bob', team: TEAM, feature: api },
      })
      expect(record.cachedInputTokens ?? 0).toBe(usage.cached)
      spent[api] += want
      counted[api]++
    },
  )

  it('/v1/spend grouped by team sums all three APIs; by feature, each its own', async () => {
    const spend = async (groupBy: string) => {
      const res = await fetch(`${k.url}/v1/spend?group_by=${groupBy}`, { headers: { authorization: `Bearer ${ADMIN}` } })
      expect(res.status).toBe(200)
      return ((await res.json()) as any).data as Array<Record<string, any>>
    }
    const total = spent.chat + spent.responses + spent.messages
    expect(total).toBeGreaterThan(0)
    expect((await spend('team')).find((r) => r.team === TEAM)).toMatchObject({ cost: decimal(total), currency: 'USD', requests: counted.chat + counted.responses + counted.messages, estimated_requests: 0 })
    const byFeature = await spend('feature')
    for (const api of APIS) expect(byFeature.find((r) => r.feature === api)).toMatchObject({ cost: decimal(spent[api]), requests: counted[api] })
  })
})

// The upstreams here always report usage; a real one may not. The estimate then reads the answer in whatever
// protocol it came (a native answer is the client's own shape), so a native answer is not billed as empty.
describe('an estimate when the upstream reports no usage', () => {
  const text = 'The quick brown fox jumps over the lazy dog, twice over and then once more.'
  const answers: Record<Api, Record<string, unknown>> = {
    chat: { object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }] },
    responses: { object: 'response', output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] }] },
    messages: { type: 'message', role: 'assistant', content: [{ type: 'text', text }] },
  }
  it('counts the answer text the same in each API shape', async () => {
    const backend = { name: 'b', model: 'gpt-4o', spec: {} } as unknown as Backend
    const counts = await Promise.all(
      APIS.map(async (api) => {
        const { usage, estimated } = await usageOf({ backend, body: answers[api], requestBody: { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello' }] } })
        expect(estimated).toBe(true)
        return usage.completion_tokens
      }),
    )
    expect(counts[0]).toBeGreaterThan(10)
    expect(counts).toEqual([counts[0], counts[0], counts[0]])
  })
})

describe('telemetry', () => {
  describe('spans', () => {
    const spans = new InMemorySpanExporter()
    beforeAll(() => void trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })))
    afterAll(() => trace.disable())

    // Anthropic's usage with its cache reads and writes, over the backend each API reaches natively or translated.
    it.each(APIS.flatMap((api) => [false, true].map((stream) => ({ api, stream }))))(
      '$api to Anthropic (stream: $stream): the server span names path, backend and cost; the attempt span the usage, cache included',
      async ({ api, stream }) => {
        const res = await send(api, 'every-an', { stream })
        expect(res.status).toBe(200)
        await res.text()
        const id = res.headers.get('x-request-id')
        const find = () => spans.getFinishedSpans().find((s) => s.attributes['kortex.request_id'] === id)
        await eventually(() => find() !== undefined)
        const server = find()!
        expect(server.kind).toBe(SpanKind.SERVER)
        expect(server.name).toBe(`POST ${PATHS[api]}`)
        expect(server.attributes).toMatchObject({ 'http.response.status_code': 200, 'kortex.route': 'every-an', 'kortex.backend': 'an-ok', 'kortex.attempts': 1, 'kortex.cost': priced(AN_PRICES, AN) / 1e9 })
        const attempt = () => spans.getFinishedSpans().find((s) => s.kind === SpanKind.CLIENT && s.parentSpanContext?.spanId === server.spanContext().spanId)
        await eventually(() => attempt() !== undefined)
        expect(attempt()!.attributes).toMatchObject({
          'gen_ai.provider.name': 'anthropic',
          'kortex.backend': 'an-ok',
          'gen_ai.usage.input_tokens': AN.input,
          'gen_ai.usage.output_tokens': AN.output,
          'gen_ai.usage.cache_read.input_tokens': AN.cached,
          'gen_ai.usage.cache_creation.input_tokens': AN.written,
        })
      },
    )
  })

  it('kortex_requests_total counts a served request from each API', async () => {
    const series = 'kortex_requests_total{route="every-counted",backend="oa-b",status_class="2xx",outcome="served",reason=""}'
    const sample = async () => {
      const text = await (await fetch(`${k.url}/metrics`)).text()
      return Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.slice(series.length + 1) ?? 0)
    }
    const before = await sample()
    for (const api of APIS) {
      const res = await send(api, 'every-counted')
      expect(res.status).toBe(200)
      await res.text()
    }
    await eventually(async () => (await sample()) === before + 3)
  })
})
