// LangChain's ChatOpenAI with useResponsesApi: true through Kortex, as a user
// writes it, over an Anthropic backend and an OpenAI-compatible one. LangChain
// sends `input` as message items with string content, `text: {}`, and
// `stream: false` explicitly; its message content comes back as blocks, so a
// user reads `.text`.
import { ChatOpenAI } from '@langchain/openai'
import { AIMessageChunk, HumanMessage, SystemMessage } from '@langchain/core/messages'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startAnthropicUpstream, type AnthropicUpstream } from '../upstreams/anthropic.ts'
import { startOpenAIUpstream, type OpenAIUpstream } from '../upstreams/openai.ts'
import { startTestKortex, type TestKortex } from '../helpers/kortex.ts'
import { turns } from '../helpers/turns.ts'

const KEY = 'kx-langchain-0001'

let anthropic: AnthropicUpstream
let openaiUp: OpenAIUpstream
let k: TestKortex

// One text backend per upstream kind, one route per model name.
const config = () => `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec:
  auth:
    keys:
      - { name: app, key: ${KEY} }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: anthropic }
spec:
  type: external
  external: { url: ${anthropic.base('ok')}, provider: anthropic, apiKeySecret: { name: anthropic, key: key } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: openai }
spec:
  type: external
  external: { url: ${openaiUp.base('ok')}, provider: openai, apiKeySecret: { name: openai, key: key } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: claude }
spec: { models: [claude-ok], defaultBackend: { name: anthropic } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: gpt }
spec: { models: [gpt-ok], defaultBackend: { name: openai } }
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

// Usage as each backend reports it; input includes Anthropic's cached tokens (25 + 100 + 10).
const backends = [
  { name: 'an Anthropic backend', model: 'claude-ok', last: () => anthropic.last!, usage: { input_tokens: 135, output_tokens: 15 }, streamUsage: { input_tokens: 135, output_tokens: 15 } },
  { name: 'an OpenAI-compatible backend', model: 'gpt-ok', last: () => openaiUp.requests.at(-1)!, usage: { input_tokens: 9, output_tokens: 12 }, streamUsage: { input_tokens: 9, output_tokens: 3 } },
]

describe.each(backends)('LangChain ChatOpenAI (Responses API) over $name', ({ model, last, usage, streamUsage }) => {
  const llm = () => new ChatOpenAI({ model, useResponsesApi: true, apiKey: KEY, configuration: { baseURL: `${k.url}/v1` }, maxRetries: 0 })

  it('invoke: the answer, its usage, and the conversation as the backend got it', async () => {
    const m = await llm().invoke([new SystemMessage('Be brief.'), new HumanMessage('hi')])
    expect(m.text).toBe('Hello from ok')
    expect(m.usage_metadata).toMatchObject({ ...usage, total_tokens: usage.input_tokens + usage.output_tokens })
    expect(m.response_metadata.id).toMatch(/^resp_/)
    expect(turns(last().body)).toEqual([
      { role: 'system', text: 'Be brief.' },
      { role: 'user', text: 'hi' },
    ])
  })

  it('stream: chunks that add up to the answer, with usage on the way', async () => {
    const chunks: AIMessageChunk[] = []
    for await (const c of await llm().stream('hi')) chunks.push(c)
    expect(chunks.length).toBeGreaterThan(1)
    expect(chunks.map((c) => c.text).join('')).toBe('Hello from ok')
    const all = chunks.reduce((a, b) => a.concat(b))
    expect(all.usage_metadata).toMatchObject({ ...streamUsage, total_tokens: streamUsage.input_tokens + streamUsage.output_tokens })
    expect(last().body.stream).toBe(true)
  })
})
