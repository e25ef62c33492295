// Cost per request, checked against figures worked out by hand: OpenAI
// (plain and with cached input), Anthropic (cache reads and writes priced
// apart), and a streamed answer; the record's attribution; the spend API
// pooling what every request added; and the HTTP sink's batching.
import { describe, expect, it } from 'vitest'
import { buildConfig } from '../../src/config/source.ts'
import { costNano, formatNano, parseNano } from '../../src/usage/cost.ts'
import { toOpenAIUsage } from '../../src/providers/anthropic/response.ts'
import { HttpSink } from '../../src/usage/sink.ts'
import { MemoryStore } from '../../src/state/memory.ts'
import { silentLogger } from '../../src/telemetry/log.ts'
import type { CostRecord } from '../../src/usage/record.ts'
import { backendsYaml, fakeClock, fakeFleet, keyedGateway, routeYaml, testGateway } from '../helpers/fake-fleet.ts'

async function backend(cost: string) {
  const c = await buildConfig(`${backendsYaml(['b'], { b: `  cost: ${cost}\n` })}---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r }
spec: { defaultBackend: { name: b } }
`, () => undefined)
  return c.backends.get('default/b')!
}

describe('prices', () => {
  it('OpenAI gpt-4o: 1,000 in and 500 out at $2.50 / $10 per million = $0.0075', async () => {
    const b = await backend('{ inputTokenCost: "0.0025", outputTokenCost: "0.01" }')
    expect(formatNano(costNano(b, { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 })!)).toBe('0.0075')
  })

  it('OpenAI cached input at its own price: 1,000 in (800 cached at half price), 100 out', async () => {
    const b = await backend('{ inputTokenCost: "0.0025", cachedInputTokenCost: "0.00125", outputTokenCost: "0.01" }')
    const usage = { prompt_tokens: 1000, completion_tokens: 100, total_tokens: 1100, prompt_tokens_details: { cached_tokens: 800 } }
    // 200 × 0.0000025 + 800 × 0.00000125 + 100 × 0.00001 = 0.0005 + 0.001 + 0.001
    expect(formatNano(costNano(b, usage)!)).toBe('0.0025')
  })

  it('Anthropic: input, cache reads and cache writes priced apart, plus a per-request price', async () => {
    const b = await backend('{ inputTokenCost: "0.003", cachedInputTokenCost: "0.0003", cacheWriteTokenCost: "0.00375", outputTokenCost: "0.015", requestCost: "0.0001" }')
    const usage = toOpenAIUsage({ input_tokens: 100, cache_read_input_tokens: 1000, cache_creation_input_tokens: 500, output_tokens: 50 })
    // 100 × 0.000003 + 1000 × 0.0000003 + 500 × 0.00000375 + 50 × 0.000015 + 0.0001
    // = 0.0003 + 0.0003 + 0.001875 + 0.00075 + 0.0001 = 0.003325
    expect(formatNano(costNano(b, usage)!)).toBe('0.003325')
  })

  it('no float drift: 1,000,000 requests of 7 tokens at $0.15 per million add up exactly', async () => {
    const b = await backend('{ inputTokenCost: "0.00015" }')
    const one = costNano(b, { prompt_tokens: 7, completion_tokens: 0, total_tokens: 7 })!
    expect(one).toBe(1050) // 7 × 150 nano
    expect(formatNano(one * 1_000_000)).toBe('1.05')
    expect(0.00000105 * 1_000_000).not.toBe(1.05) // what floats would have said
    expect(parseNano('500.00')).toBe(500_000_000_000)
  })
})

describe('prices, exact at any size', () => {
  // The same sum in BigInt, rounded half to even: what any usage must cost.
  const reference = (tokens: { plain: number; cached: number; out: number }, p: { in: string; cached: string; out: string; req: string }) => {
    const e9 = (s: string) => {
      const [w, f = ''] = s.split('.')
      return BigInt(w!) * 1_000_000_000n + BigInt((f + '000000000').slice(0, 9))
    }
    const pico = BigInt(tokens.plain) * e9(p.in) + BigInt(tokens.cached) * e9(p.cached) + BigInt(tokens.out) * e9(p.out)
    const q = pico / 1000n
    const r = pico % 1000n
    // Past 2^53 nano-units (billions of the currency) the Number is approximate, as the record's is.
    return Number(r > 500n || (r === 500n && q % 2n === 1n) ? q + 1n : q) + Number(e9(p.req))
  }

  it('matches a BigInt computation from one token to a billion, at cheap and dear prices', async () => {
    const prices = [
      { in: '0.000015', cached: '0.0000075', out: '0.00006', req: '0' },
      { in: '0.0025', cached: '0.00125', out: '0.01', req: '0.0001' },
      { in: '75', cached: '37.5', out: '150.123456789', req: '2' },
    ]
    let x = 99
    const rnd = (k: number) => (x = (x * 48271) % 2147483647) % k
    for (const p of prices) {
      const b = await backend(`{ inputTokenCost: "${p.in}", cachedInputTokenCost: "${p.cached}", outputTokenCost: "${p.out}", requestCost: "${p.req}" }`)
      for (let i = 0; i < 300; i++) {
        const scale = 10 ** rnd(10)
        const prompt = rnd(1000) * scale + rnd(1000)
        const cached = Math.min(prompt, rnd(500) * scale)
        const out = rnd(1000) * scale + rnd(7)
        const got = costNano(b, { prompt_tokens: prompt, completion_tokens: out, total_tokens: prompt + out, prompt_tokens_details: { cached_tokens: cached } })
        expect(got, `${prompt} ${cached} ${out} at ${p.in}`).toBe(reference({ plain: prompt - cached, cached, out }, p))
      }
    }
  })
})

describe('cost records, through the gateway', () => {
  const yaml = `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec:
  accessLog: false
  cost: { header: true }
  auth:
    keys:
      - { name: web-app, key: kx-web-app-0001, team: web }
      - { name: ml-app, key: kx-ml-app-00001, team: ml }
      - { name: finance, key: kx-finance-0001, admin: true }
---
${backendsYaml(['gpt', 'cheap'], { gpt: '  cost: { inputTokenCost: "0.0025", outputTokenCost: "0.01" }\n', cheap: '  cost: { inputTokenCost: "0.00015", outputTokenCost: "0.0006" }\n' })}---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: chat }
spec:
  defaultBackend: { name: gpt }
  rules:
    - match: { headers: { x-tier: free } }
      backends: [{ name: cheap }]
  costTracking: { enabled: true, attribution: [{ header: X-Team-ID }, { header: X-Feature-ID }] }
`

  it('one record per request, with tokens, cost, attribution; x-kortex-cost on the answer; /v1/spend pools them', async () => {
    const records: Record<string, unknown>[] = []
    const clock = fakeClock(Date.parse('2026-11-30T10:00:00Z'))
    const store = new MemoryStore(clock.now)
    const gw = await testGateway(yaml, fakeFleet(), clock, { store, log: { ...silentLogger, record: (r) => records.push(r) } })
    // Each fake answer uses 9 in, 12 out: gpt costs 9 × 0.0000025 + 12 × 0.00001 = 0.0001425; cheap 0.00000855.
    const r1 = await gw.chat({ authorization: 'Bearer kx-web-app-0001', 'x-feature-id': 'search' })
    expect(r1.headers.get('x-kortex-cost')).toBe('0.0001425')
    await gw.chat({ authorization: 'Bearer kx-web-app-0001', 'x-feature-id': 'chat', 'x-team-id': 'ml' }) // a header cannot move the key's spend to another team
    await gw.chat({ authorization: 'Bearer kx-ml-app-00001', 'x-feature-id': 'search', 'x-tier': 'free' })
    await gw.settle()
    const costs = records.filter((r) => r.type === 'cost') as unknown as CostRecord[]
    expect(costs).toHaveLength(3)
    expect(costs[0]).toMatchObject({
      requestId: r1.headers.get('x-request-id'),
      route: 'chat',
      backend: 'gpt',
      model: 'm',
      inputTokens: 9,
      outputTokens: 12,
      cost: '0.0001425',
      currency: 'USD',
      estimated: false,
      attribution: { key: 'web-app', team: 'web', feature: 'search' },
      status: 200,
      attempts: 1,
    })
    expect(costs[1]!.attribution.team).toBe('web')
    expect(costs[2]).toMatchObject({ backend: 'cheap', cost: '0.00000855', attribution: { team: 'ml' } })

    const admin = { headers: { authorization: 'Bearer kx-finance-0001' } }
    expect((await gw.call('/v1/spend', { headers: { authorization: 'Bearer kx-web-app-0001' } })).status).toBe(403)
    const spend = async (q: string) => ((await (await gw.call(`/v1/spend?${q}`, admin)).json()) as any).data
    expect(await spend('group_by=team&from=2026-11-30&to=2026-11-30')).toEqual([
      { team: 'web', currency: 'USD', cost: '0.000285', requests: 2, input_tokens: 18, output_tokens: 24, estimated_requests: 0 },
      { team: 'ml', currency: 'USD', cost: '0.00000855', requests: 1, input_tokens: 9, output_tokens: 12, estimated_requests: 0 },
    ])
    expect((await spend('group_by=feature&from=2026-11-01')).map((r: any) => [r.feature, r.cost])).toEqual([
      ['search', '0.00015105'],
      ['chat', '0.0001425'],
    ])
    expect((await spend('group_by=backend')).map((r: any) => r.backend)).toEqual(['gpt', 'cheap'])
    expect(await spend('group_by=team&from=2026-12-01&to=2026-12-31')).toEqual([])
    expect((await gw.call('/v1/spend?group_by=team&from=yesterday', admin)).status).toBe(400)
  })

  it('spend is gathered in a window and written once: before /v1/spend answers, and on flush()', async () => {
    const clock = fakeClock(Date.parse('2026-11-30T10:00:00Z'))
    const store = new MemoryStore(clock.now)
    let writes = 0
    const counted = new Proxy(store, {
      get: (t, k) => (k === 'addFields' ? (...a: Parameters<MemoryStore['addFields']>) => (writes++, t.addFields(...a)) : typeof (t as any)[k] === 'function' ? (t as any)[k].bind(t) : (t as any)[k]),
    })
    // A window far longer than the test: only the read and flush() write.
    const gw = await testGateway(yaml, fakeFleet(), clock, { store: counted, aggregatesFlushMs: 60_000 })
    const admin = { headers: { authorization: 'Bearer kx-finance-0001' } }
    for (let i = 0; i < 5; i++) await gw.chat({ authorization: 'Bearer kx-web-app-0001' })
    expect(writes).toBe(0)
    const teams = async () => ((await (await gw.call('/v1/spend?group_by=team&from=2026-11-30&to=2026-11-30', admin)).json()) as any).data
    expect(await teams()).toEqual([expect.objectContaining({ team: 'web', requests: 5, input_tokens: 45, output_tokens: 60, cost: formatNano(5 * costNano(gw.config.backends.get('default/gpt')!, { prompt_tokens: 9, completion_tokens: 12, total_tokens: 21 })!) })])
    expect(writes).toBe(1) // five requests, one write
    await gw.chat({ authorization: 'Bearer kx-ml-app-00001' })
    await gw.flush()
    expect(writes).toBe(2)
    expect((await teams()).map((r: any) => [r.team, r.requests])).toEqual([['web', 5], ['ml', 1]])
  })

  it('costTracking: false or { enabled: false } on a route: no cost record and no spend for its requests', async () => {
    for (const off of ['false', '{ enabled: false }']) {
      const records: Record<string, unknown>[] = []
      const gw = await testGateway(yaml.replace(/  costTracking: .*\n/, `  costTracking: ${off}\n`), fakeFleet(), fakeClock(), { log: { ...silentLogger, record: (r) => records.push(r) } })
      const r = await gw.chat({ authorization: 'Bearer kx-web-app-0001' })
      expect(r.status).toBe(200)
      await gw.settle()
      expect(records.filter((x) => x.type === 'cost')).toEqual([])
      const spend = await gw.call('/v1/spend?group_by=team', { headers: { authorization: 'Bearer kx-finance-0001' } })
      expect(((await spend.json()) as any).data).toEqual([])
    }
  })

  it('a stream is priced from its usage chunk, which the client did not ask for and does not see', async () => {
    const records: Record<string, unknown>[] = []
    const upstream = async () =>
      new Response(
        [
          'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}',
          'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}',
          'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}',
          'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":2000,"completion_tokens":300,"total_tokens":2300}}',
          'data: [DONE]',
          '',
        ].join('\n\n'),
        { headers: { 'content-type': 'text/event-stream' } },
      )
    const gw = await testGateway(yaml, fakeFleet(), fakeClock(), { fetch: upstream, log: { ...silentLogger, record: (r) => records.push(r) } })
    const res = await gw.chat({ authorization: 'Bearer kx-web-app-0001' }, { stream: true })
    const text = await res.text()
    expect(text).not.toContain('"usage":{')
    await gw.settle()
    // 2000 × 0.0000025 + 300 × 0.00001 = 0.005 + 0.003
    expect(records.find((r) => r.type === 'cost')).toMatchObject({ inputTokens: 2000, outputTokens: 300, cost: '0.008', estimated: false })
  })

  it('an upstream that reports no usage: counted with the tokenizer and marked estimated', async () => {
    const records: Record<string, unknown>[] = []
    const upstream = async () => Response.json({ id: 'x', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there, how are you today?' }, finish_reason: 'stop' }] })
    const gw = await testGateway(yaml, fakeFleet(), fakeClock(), { fetch: upstream, log: { ...silentLogger, record: (r) => records.push(r) } })
    await gw.chat({ authorization: 'Bearer kx-web-app-0001' }, { model: 'gpt-4o', messages: [{ role: 'user', content: 'hello world' }] })
    await gw.settle()
    const rec = records.find((r) => r.type === 'cost') as unknown as CostRecord
    expect(rec.estimated).toBe(true)
    expect(rec.inputTokens).toBeGreaterThan(5)
    expect(rec.outputTokens).toBeGreaterThanOrEqual(6)
    expect(rec.outputTokens).toBeLessThanOrEqual(10)
  })
})

describe('embeddings', () => {
  it('are priced on input alone, and their spend adds up (no output tokens to read)', async () => {
    const records: Record<string, unknown>[] = []
    const upstream = async () => Response.json({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }], model: 'e', usage: { prompt_tokens: 8, total_tokens: 8 } })
    const yaml = `${keyedGateway(['{ name: ops, key: kx-ops-key-0001, admin: true, team: ops }'])}---
${backendsYaml(['emb'], { emb: '  cost: { inputTokenCost: "0.00002" }\n' })}${routeYaml('  defaultBackend: { name: emb }\n')}`
    const gw = await testGateway(yaml, fakeFleet(), fakeClock(Date.parse('2026-11-30T10:00:00Z')), { fetch: upstream, log: { ...silentLogger, record: (r) => records.push(r) } })
    const auth = { authorization: 'Bearer kx-ops-key-0001' }
    for (let i = 0; i < 2; i++) expect((await gw.call('/v1/embeddings', { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ model: 'e', input: 'hello' }) })).status).toBe(200)
    await gw.settle()
    expect(records.find((r) => r.type === 'cost')).toMatchObject({ inputTokens: 8, outputTokens: 0, cost: '0.00000016' })
    const spend = ((await (await gw.call('/v1/spend?group_by=team&from=2026-11-30', { headers: auth })).json()) as any).data
    expect(spend).toEqual([{ team: 'ops', currency: 'USD', cost: '0.00000032', requests: 2, input_tokens: 16, output_tokens: 0, estimated_requests: 0 }])
  })
})

describe('the HTTP cost sink', () => {
  const rec = (i: number) => ({ type: 'cost', requestId: `r${i}` }) as unknown as CostRecord

  it('batches, retries a failed batch, and drops the oldest beyond its queue bound', async () => {
    const posted: string[][] = []
    let up = false
    const sink = new HttpSink({
      url: 'http://sink.test/ingest?token=secret',
      batchSize: 3,
      flushMs: 60_000,
      maxQueue: 5,
      log: silentLogger,
      fetch: async (_u, init) => {
        if (!up) return new Response('down', { status: 503 })
        posted.push(JSON.parse(String(init!.body)).records.map((r: CostRecord) => r.requestId))
        return new Response(null, { status: 202 })
      },
    })
    for (let i = 0; i < 3; i++) await sink.push(rec(i))
    expect(sink.queued).toBe(3) // the first batch failed and stays queued
    for (let i = 3; i < 7; i++) await sink.push(rec(i))
    expect(sink.dropped).toBe(2)
    up = true
    await sink.flush()
    expect(posted).toEqual([
      ['r2', 'r3', 'r4'],
      ['r5', 'r6'],
    ])
    expect(sink.sent).toBe(5)
    expect(sink.queued).toBe(0)
  })
})

describe('spend aggregates', () => {
  it('stay exact for 2,100 teams written over several windows, each its own figures', async () => {
    const { SpendBuffer, readSpend, dayOf } = await import('../../src/usage/spend.ts')
    const store = new MemoryStore()
    const spend = new SpendBuffer(store, 60_000)
    const now = Date.parse('2026-11-30T12:00:00Z')
    const rec = (team: string, i: number): CostRecord =>
      ({ type: 'cost', time: '', requestId: `r${i}`, route: 'r', model: 'm', attribution: { team }, latencyMs: 1, status: 200, attempts: 1, backend: 'b', inputTokens: i, outputTokens: 1, costNano: 1000, cost: '0.000001', currency: 'USD', estimated: false }) as CostRecord
    // Flushed every 500 records: each window's sums add to the last.
    for (let i = 0; i < 2100; i++) {
      spend.add(rec(`team-${i}`, i), now)
      if (i % 500 === 499) await spend.flush()
    }
    spend.add(rec('team-7', 5), now) // a team seen before the bound was passed
    await spend.flush()
    const day = dayOf(now)
    const rows = await readSpend(store, 'team', day, day)
    expect(rows).toHaveLength(2100)
    const seven = rows.find((r) => r.team === 'team-7')!
    expect(seven).toMatchObject({ requests: 2, input_tokens: 12, output_tokens: 2, currency: 'USD' })
    expect(rows.find((r) => r.team === 'team-2099')).toMatchObject({ requests: 1, input_tokens: 2099 })
    const byRoute = await readSpend(store, 'route', day, day)
    expect(byRoute).toEqual([expect.objectContaining({ route: 'r', requests: 2101 })])
  })
})
