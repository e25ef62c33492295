// The Vercel AI SDK's default OpenAI provider through Kortex, as a user writes
// it: createOpenAI({ baseURL, apiKey }) then openai(model), which calls the
// Responses API. Over an Anthropic backend and an OpenAI-compatible one.
// Worth knowing: the SDK sends earlier assistant messages back as
// { type: 'item_reference', id: <output item id> } (store defaults to true),
// so a multi-turn chat only works if Kortex stored the items it answered with.
import { createOpenAI } from '@ai-sdk/openai'
import { generateObject, generateText, Output, stepCountIs, streamText, tool, type ModelMessage } from 'ai'
import { z } from 'zod'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startAnthropicUpstream, type AnthropicUpstream } from '../upstreams/anthropic.ts'
import { startOpenAIUpstream, type OpenAIUpstream } from '../upstreams/openai.ts'
import { startTestKortex, type TestKortex } from '../helpers/kortex.ts'
import { turns } from '../helpers/turns.ts'

const KEY = 'kx-ai-sdk-0001'

let anthropic: AnthropicUpstream
let openaiUp: OpenAIUpstream
let k: TestKortex
let openai: ReturnType<typeof createOpenAI>

// Four backends (two upstreams x text/tool behaviour), one route per model name.
const config = () => `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec:
  auth:
    keys:
      - { name: app, key: ${KEY} }
${['ok', 'tool']
  .map(
    (mode) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: anthropic-${mode} }
spec:
  type: external
  external: { url: ${anthropic.base(mode)}, provider: anthropic, apiKeySecret: { name: anthropic, key: key } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: openai-${mode} }
spec:
  type: external
  external: { url: ${openaiUp.base(mode)}, provider: openai, apiKeySecret: { name: openai, key: key } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: claude-${mode} }
spec: { models: [claude-${mode}], defaultBackend: { name: anthropic-${mode} } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: gpt-${mode} }
spec: { models: [gpt-${mode}], defaultBackend: { name: openai-${mode} } }
`,
  )
  .join('')}`

beforeAll(async () => {
  process.env.ANTHROPIC_KEY = 'test-ant-upstream'
  process.env.OPENAI_KEY = 'test-openai-upstream'
  anthropic = await startAnthropicUpstream()
  openaiUp = await startOpenAIUpstream()
  k = await startTestKortex(config())
  openai = createOpenAI({ baseURL: `${k.url}/v1`, apiKey: KEY })
})
afterAll(async () => {
  await k?.close()
  await anthropic?.close()
  await openaiUp?.close()
})

// Usage as each backend reports it (the upstreams' fixed numbers); the Responses
// API's input_tokens include Anthropic's cached ones (25 + 100 read + 10 written).
const backends = [
  { name: 'an Anthropic backend', prefix: 'claude', last: () => anthropic.last!, usage: { inputTokens: 135, outputTokens: 15 }, streamUsage: { inputTokens: 135, outputTokens: 15 } },
  { name: 'an OpenAI-compatible backend', prefix: 'gpt', last: () => openaiUp.requests.at(-1)!, usage: { inputTokens: 9, outputTokens: 12 }, streamUsage: { inputTokens: 9, outputTokens: 3 } },
]

const weatherTool = tool({
  description: 'The current weather in a city',
  inputSchema: z.object({ location: z.string() }),
  execute: async ({ location }) => `18°C in ${location}`,
})

describe.each(backends)('AI SDK openai(model) over $name', ({ prefix, last, usage, streamUsage }) => {
  const ok = `${prefix}-ok`
  const toolModel = `${prefix}-tool`

  it('generateText answers with text and usage; the system prompt reaches the backend', async () => {
    const r = await generateText({ model: openai(ok), system: 'Be brief.', prompt: 'hi' })
    expect(r.text).toBe('Hello from ok')
    expect(r.finishReason).toBe('stop')
    expect(r.usage).toMatchObject({ ...usage, totalTokens: usage.inputTokens + usage.outputTokens })
    expect(turns(last().body)).toEqual([
      { role: 'system', text: 'Be brief.' },
      { role: 'user', text: 'hi' },
    ])
  })

  it('streamText streams the text and reports usage at the end', async () => {
    const errors: unknown[] = []
    const result = streamText({ model: openai(ok), prompt: 'hi', onError: ({ error }) => void errors.push(error) })
    const parts: string[] = []
    for await (const t of result.textStream) parts.push(t)
    expect(errors).toEqual([]) // streamText reports failures here, not by throwing
    expect(parts.join('')).toBe('Hello from ok')
    expect(parts.length).toBeGreaterThan(1)
    expect(await result.finishReason).toBe('stop')
    expect(await result.usage).toMatchObject({ ...streamUsage, totalTokens: streamUsage.inputTokens + streamUsage.outputTokens })
  })

  it('a tool round trip: the model calls the tool, the SDK executes it, the model answers from its result', async () => {
    const r = await generateText({
      model: openai(toolModel),
      prompt: 'What is the weather in San Francisco?',
      tools: { get_weather: weatherTool },
      stopWhen: stepCountIs(3),
    })
    expect(r.steps).toHaveLength(2)
    expect(r.steps[0]!.toolCalls).toMatchObject([{ toolName: 'get_weather', input: { location: 'San Francisco, CA' } }])
    expect(r.steps[0]!.finishReason).toBe('tool-calls')
    expect(r.text).toBe('The tool said: 18°C in San Francisco, CA')
  })

  it('streamText with a tool: the call streams, executes, and the second step streams the answer', async () => {
    const errors: unknown[] = []
    const result = streamText({
      model: openai(toolModel),
      prompt: 'What is the weather in San Francisco?',
      tools: { get_weather: weatherTool },
      stopWhen: stepCountIs(3),
      onError: ({ error }) => void errors.push(error),
    })
    let text = ''
    for await (const t of result.textStream) text += t
    expect(errors).toEqual([])
    expect(text).toMatch(/The tool said: 18°C in San Francisco, CA$/)
    expect((await result.steps).map((s) => s.finishReason)).toEqual(['tool-calls', 'stop'])
  })

  it('structured output: generateObject with a zod schema returns a typed object', async () => {
    const schema = z.object({ city: z.string(), temperature: z.number(), sunny: z.boolean() })
    const { object } = await generateObject({ model: openai(ok), schema, prompt: 'Weather in Paris as JSON' })
    expect(object).toEqual({ city: 'city sample', temperature: 21.5, sunny: true })
  })

  it('structured output: generateText with Output.object (the ai 6 way)', async () => {
    const { output } = await generateText({
      model: openai(ok),
      output: Output.object({ schema: z.object({ name: z.string(), tags: z.array(z.string()) }) }),
      prompt: 'A recipe name and tags',
    })
    expect(output).toEqual({ name: 'name sample', tags: ['tags sample'] })
  })

  it('a multi-turn chat: earlier answers go back by item_reference and the backend sees the whole conversation', async () => {
    const messages: ModelMessage[] = [{ role: 'user', content: 'My name is Ada.' }]
    const first = await generateText({ model: openai(ok), messages })
    messages.push(...first.response.messages, { role: 'user', content: 'What is my name?' })
    const second = await generateText({ model: openai(ok), messages })
    expect(second.text).toBe('Hello from ok')
    expect(turns(last().body)).toEqual([
      { role: 'user', text: 'My name is Ada.' },
      { role: 'assistant', text: 'Hello from ok' },
      { role: 'user', text: 'What is my name?' },
    ])
  })
})
