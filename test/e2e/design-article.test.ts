// The design article's routes as examples/design-article-*.yaml write them,
// served through Kortex to test upstreams: the inline backends get a `url`
// (the test servers') and their keys from the conventional variables.
// Priority is the failover order, X-Priority picks a backend, and cost
// records carry the attribution headers.
import { readFileSync } from 'node:fs'
import OpenAI from 'openai'
import { parseAllDocuments } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startOpenAIUpstream, type OpenAIUpstream } from '../upstreams/openai.ts'
import { startAnthropicUpstream, type AnthropicUpstream } from '../upstreams/anthropic.ts'
import { startKServeUpstream, type KServeUpstream } from '../upstreams/kserve.ts'
import { startTestKortex, type TestKortex } from '../helpers/kortex.ts'

const OPENAI_KEY = 'test-openai-design-article'
const ANTHROPIC_KEY = 'test-ant-design-article'
let openai: OpenAIUpstream
let anthropic: AnthropicUpstream
let kserve: KServeUpstream
const started: TestKortex[] = []

/** The example with each inline backend pointed at a test server (`modes` picks how each behaves). */
function pointed(file: string, modes: Record<string, string> = {}): string {
  const docs = parseAllDocuments(readFileSync(new URL(`../../examples/${file}`, import.meta.url), 'utf8'))
  for (const d of docs) {
    const backends = d.getIn(['spec', 'backends']) as { items: Array<{ get(k: string): unknown; set(k: string, v: unknown): void }> } | undefined
    for (const b of backends?.items ?? []) {
      const mode = modes[b.get('name') as string] ?? 'ok'
      const url = b.get('type') === 'kserve' ? (mode === 'down' ? 'http://127.0.0.1:9' : kserve.url) : b.get('provider') === 'anthropic' ? anthropic.base(mode) : openai.base(mode)
      b.set('url', url)
    }
  }
  return docs.map((d) => d.toString()).join('---\n')
}

async function kortex(file: string, modes?: Record<string, string>): Promise<TestKortex> {
  const k = await startTestKortex(pointed(file, modes))
  started.push(k)
  return k
}

const chat = (k: TestKortex, headers: Record<string, string> = {}) =>
  new OpenAI({ baseURL: `${k.url}/v1`, apiKey: 'any', maxRetries: 0, defaultHeaders: headers }).chat.completions.create({ model: 'any', messages: [{ role: 'user', content: 'hi' }] }).withResponse()

beforeAll(async () => {
  process.env.OPENAI_CREDENTIALS_API_KEY = OPENAI_KEY
  process.env.ANTHROPIC_CREDENTIALS_API_KEY = ANTHROPIC_KEY
  openai = await startOpenAIUpstream()
  anthropic = await startAnthropicUpstream()
  kserve = await startKServeUpstream({ llm: 'mistral-7b' })
})
afterAll(async () => {
  for (const k of started) await k.close()
  await openai?.close()
  await anthropic?.close()
  await kserve?.close()
})

describe('design-article-router.yaml', () => {
  it('priority 1 serves while it answers, with its key and model; the cost record carries X-Team-ID and X-Feature-ID', async () => {
    const k = await kortex('design-article-router.yaml')
    const before = openai.requests.length
    for (let i = 0; i < 5; i++) {
      const { response } = await chat(k, { 'X-Team-ID': 'search', 'X-Feature-ID': 'autocomplete' })
      expect(response.headers.get('x-kortex-backend')).toBe('gpt-4')
    }
    const sent = openai.requests.slice(before)
    expect(sent).toHaveLength(5)
    expect(sent[0]!.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`)
    expect(sent[0]!.body.model).toBe('gpt-4-turbo')
    await expect.poll(() => k.records.filter((r) => r.type === 'cost').length).toBe(5)
    expect(k.records.find((r) => r.type === 'cost')).toMatchObject({ route: 'production-router', backend: 'gpt-4', attribution: { team: 'search', feature: 'autocomplete' } })
  })

  it('gpt-4 failing (retried maxRetries times): claude-3 serves; both failing: the KServe model does', async () => {
    const k = await kortex('design-article-router.yaml', { 'gpt-4': '503' })
    const before = openai.requests.length
    const { data, response } = await chat(k)
    expect(response.headers.get('x-kortex-backend')).toBe('claude-3')
    expect(openai.requests.length - before).toBe(3) // the first attempt and maxRetries: 2
    expect(anthropic.last!.headers['x-api-key']).toBe(ANTHROPIC_KEY)
    expect(anthropic.last!.body.model).toBe('claude-3-opus')
    expect(data.choices[0]!.message.content).toBeTruthy()

    const k2 = await kortex('design-article-router.yaml', { 'gpt-4': '503', 'claude-3': '500' })
    const r2 = await chat(k2)
    expect(r2.response.headers.get('x-kortex-backend')).toBe('local-mistral')
    expect(kserve.last().url).toBe('/openai/v1/chat/completions')
    expect(r2.data.choices[0]!.message.content).toBe('kserve /openai/v1/chat/completions')
  })
})

describe('design-article-priority-headers.yaml', () => {
  it('X-Priority: high goes to gpt-4, low to the KServe model, none to claude-3', async () => {
    const k = await kortex('design-article-priority-headers.yaml')
    expect((await chat(k, { 'X-Priority': 'high' })).response.headers.get('x-kortex-backend')).toBe('gpt-4')
    expect((await chat(k, { 'X-Priority': 'low' })).response.headers.get('x-kortex-backend')).toBe('local-mistral')
    expect((await chat(k)).response.headers.get('x-kortex-backend')).toBe('claude-3')
    await expect.poll(() => k.records.filter((r) => r.type === 'cost').length).toBe(3)
  })

  it('a low request whose KServe model is down moves on to claude-3, never to gpt-4', async () => {
    const k = await kortex('design-article-priority-headers.yaml', { 'local-mistral': 'down' })
    const before = openai.requests.length
    const { response } = await chat(k, { 'X-Priority': 'low', 'X-Team-ID': 'batch' })
    expect(response.headers.get('x-kortex-backend')).toBe('claude-3')
    expect(openai.requests.length).toBe(before)
    await expect.poll(() => k.records.find((r) => r.type === 'cost')).toMatchObject({ backend: 'claude-3', attribution: { team: 'batch' } })
  })
})
