// The Bedrock provider's pieces: Signature V4 as aws4fetch makes it (against
// AWS's published test vector), the event-stream decoder against frames made
// by independent code (node:zlib's CRC32), the Converse request and answer
// translation, and the exception names classified.
import { createHmac } from 'node:crypto'
import { crc32 as zlibCrc32 } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { AwsV4Signer } from 'aws4fetch'
import { crc32, eventStreamDecoder, type EventMessage } from '../../src/providers/bedrock/eventstream.ts'
import { SERVICE, modelPath } from '../../src/providers/bedrock/sign.ts'
import { structuredOutput, toConverseRequest } from '../../src/providers/bedrock/request.ts'
import { ConverseStreamTranslator } from '../../src/providers/bedrock/stream.ts'
import { toOpenAIResponse, toOpenAIUsage } from '../../src/providers/bedrock/response.ts'
import { classify } from '../../src/providers/bedrock/errors.ts'
import { frame } from '../upstreams/bedrock.ts'

describe('Signature V4', () => {
  it("aws4fetch reproduces AWS's get-vanilla test vector, and signs it as the spec derives the key", async () => {
    // AWS Signature Version 4 test suite, get-vanilla: GET / on example.amazonaws.com at 20150830T123600Z.
    // Its canonical request and string to sign do not depend on the secret, so they are checked as
    // published; the signature is checked against the spec's key derivation done here with node:crypto
    // (a made-up secret: no key, not even AWS's documentation one, is kept in the repository).
    const secret = 'kortex-test-secret-not-a-real-key'
    const signer = new AwsV4Signer({ method: 'GET', url: 'https://example.amazonaws.com/', accessKeyId: 'AKIDEXAMPLE', secretAccessKey: secret, service: 'service', region: 'us-east-1', datetime: '20150830T123600Z' })
    expect(await signer.canonicalString()).toBe('GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    const stringToSign = 'AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63'
    expect(await signer.stringToSign()).toBe(stringToSign)
    const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest()
    const key = ['us-east-1', 'service', 'aws4_request'].reduce((k, part) => hmac(k, part), hmac(`AWS4${secret}`, '20150830'))
    const signed = await signer.sign()
    expect(signed.headers.get('authorization')).toBe(
      `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=${hmac(key, stringToSign).toString('hex')}`,
    )
  })

  it("a Bedrock request is scoped to the backend's region and the bedrock service, the model id escaped in the path", async () => {
    const url = modelPath('https://bedrock-runtime.eu-west-1.amazonaws.com', 'anthropic.claude-3-haiku-20240307-v1:0', 'converse')
    expect(url).toBe('https://bedrock-runtime.eu-west-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse')
    const signed = await new AwsV4Signer({ method: 'POST', url, body: '{}', accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', service: SERVICE, region: 'eu-west-1', datetime: '20260101T000000Z' }).sign()
    expect(signed.headers.get('authorization')).toContain('Credential=AKIDEXAMPLE/20260101/eu-west-1/bedrock/aws4_request')
  })
})

async function decode(bytes: Uint8Array, step: number): Promise<EventMessage[]> {
  const chunks: Uint8Array[] = []
  for (let i = 0; i < bytes.length; i += step) chunks.push(bytes.subarray(i, i + step))
  const src = new ReadableStream<Uint8Array>({
    start(c) {
      for (const ch of chunks) c.enqueue(ch)
      c.close()
    },
  })
  const out: EventMessage[] = []
  const reader = src.pipeThrough(eventStreamDecoder()).getReader()
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return out
    out.push(value)
  }
}

describe('event stream decoder', () => {
  it('computes the IEEE CRC32 (check value of "123456789")', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926)
    const b = new TextEncoder().encode('Bedrock event stream')
    expect(crc32(b)).toBe(zlibCrc32(b))
  })

  const two = new Uint8Array(
    Buffer.concat([
      frame({ ':event-type': 'messageStart', ':content-type': 'application/json', ':message-type': 'event' }, { role: 'assistant' }),
      frame({ ':event-type': 'contentBlockDelta', ':content-type': 'application/json', ':message-type': 'event' }, { contentBlockIndex: 0, delta: { text: 'Hi ✓' } }),
    ]),
  )

  for (const step of [1, 7, 1000]) {
    it(`reads frames split every ${step} bytes`, async () => {
      const msgs = await decode(two, step)
      expect(msgs.map((m) => m.headers[':event-type'])).toEqual(['messageStart', 'contentBlockDelta'])
      expect(JSON.parse(new TextDecoder().decode(msgs[1]!.payload))).toEqual({ contentBlockIndex: 0, delta: { text: 'Hi ✓' } })
      expect(msgs[1]!.headers[':message-type']).toBe('event')
    })
  }

  it('refuses a message whose CRC is wrong', async () => {
    const bad = frame({ ':event-type': 'contentBlockDelta', ':message-type': 'event' }, { delta: { text: 'x' } }, true)
    await expect(decode(new Uint8Array(bad), 5)).rejects.toThrow(/message CRC32/)
  })

  it('refuses a prelude whose CRC is wrong, before waiting for a length it cannot trust', async () => {
    const bad = new Uint8Array(frame({ ':event-type': 'messageStart' }, { role: 'assistant' }))
    bad[2] = bad[2]! ^ 0x40 // the total length, now huge
    await expect(decode(bad, 64)).rejects.toThrow(/prelude CRC32/)
  })

  it('refuses a body that ends inside a message', async () => {
    await expect(decode(two.subarray(0, two.length - 3), 16)).rejects.toThrow(/cut off/)
  })
})

describe('Converse translation', () => {
  it('puts system apart, maps inference settings and tools, keeps tool calls and results as blocks', () => {
    const r = toConverseRequest({
      model: 'm',
      max_tokens: 300,
      temperature: 0.5,
      top_p: 0.9,
      stop: ['END'],
      tool_choice: 'required',
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }],
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
      ],
    })
    expect(r).toEqual({
      system: [{ text: 'Be brief.' }],
      messages: [
        { role: 'user', content: [{ text: 'weather?' }] },
        { role: 'assistant', content: [{ toolUse: { toolUseId: 'c1', name: 'get_weather', input: { location: 'Paris' } } }] },
        { role: 'user', content: [{ toolResult: { toolUseId: 'c1', content: [{ text: 'sunny' }] } }] },
      ],
      inferenceConfig: { maxTokens: 300, temperature: 0.5, topP: 0.9, stopSequences: ['END'] },
      toolConfig: {
        tools: [{ toolSpec: { name: 'get_weather', description: 'Weather', inputSchema: { json: { type: 'object', properties: { location: { type: 'string' } } } } } }],
        toolChoice: { any: {} },
      },
    })
  })

  it('sends no maxTokens the client did not ask for, and no tools for tool_choice none', () => {
    const r = toConverseRequest({ model: 'm', tool_choice: 'none', tools: [{ type: 'function', function: { name: 'f' } }], messages: [{ role: 'user', content: 'hi' }] })
    expect(r.inferenceConfig).toBeUndefined()
    expect(r.toolConfig).toBeUndefined()
  })

  it('tool_choice none after a tool turn: the tools stay declared (Converse refuses tool blocks without a toolConfig) but none is forced', () => {
    const r = toConverseRequest({
      model: 'm',
      tool_choice: 'none',
      tools: [{ type: 'function', function: { name: 'get_weather' } }],
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
      ],
    })
    expect(r.toolConfig).toEqual({ tools: [{ toolSpec: { name: 'get_weather', inputSchema: { json: { type: 'object', properties: {} } } } }] })
  })

  it('a tool turn in the history but no tools sent (a summary after it): the tools it used are declared, so Converse takes the blocks', () => {
    const r = toConverseRequest({
      model: 'm',
      messages: [
        { role: 'user', content: 'weather in Paris and Rome?' },
        { role: 'assistant', content: null, tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'c2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
        ] },
        { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
        { role: 'tool', tool_call_id: 'c2', content: 'rain' },
        { role: 'user', content: 'Summarise that in one line.' },
      ],
    })
    expect(r.toolConfig).toEqual({ tools: [{ toolSpec: { name: 'get_weather', description: expect.any(String), inputSchema: { json: { type: 'object' } } } }] })
    expect(r.messages[1]!.content).toHaveLength(2)
  })

  const weather = { type: 'object', properties: { city: { type: 'string' }, temperature: { type: 'number' } }, required: ['city', 'temperature'] }
  const ask = { model: 'm', messages: [{ role: 'user', content: 'Paris?' }] }

  it('response_format json_schema: a forced tool whose input schema is the requested one (Converse has no JSON mode)', () => {
    const r = toConverseRequest({ ...ask, response_format: { type: 'json_schema', json_schema: { name: 'weather', schema: weather, strict: true } } })
    expect(r.toolConfig).toEqual({
      tools: [{ toolSpec: { name: 'weather', description: expect.stringContaining('calling this tool'), inputSchema: { json: weather } } }],
      toolChoice: { tool: { name: 'weather' } },
    })
  })

  it('response_format json_object: any JSON object; text: nothing to do', () => {
    const r = toConverseRequest({ ...ask, response_format: { type: 'json_object' } })
    expect(r.toolConfig?.tools[0]!.toolSpec).toMatchObject({ name: 'json_response', inputSchema: { json: { type: 'object', additionalProperties: true, properties: {} } } })
    expect(r.toolConfig?.toolChoice).toEqual({ tool: { name: 'json_response' } })
    expect(toConverseRequest({ ...ask, response_format: { type: 'text' } }).toolConfig).toBeUndefined()
  })

  it('response_format with the client\'s own tools: some tool must be called, theirs or the JSON one; tool_choice none forces the JSON one', () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }]
    const rf = { type: 'json_schema', json_schema: { name: 'weather', schema: weather } }
    const auto = toConverseRequest({ ...ask, tools, response_format: rf })
    expect(auto.toolConfig?.tools.map((t) => t.toolSpec.name)).toEqual(['get_weather', 'weather'])
    expect(auto.toolConfig?.toolChoice).toEqual({ any: {} })
    expect(toConverseRequest({ ...ask, tools, tool_choice: 'none', response_format: rf }).toolConfig).toEqual({ tools: [expect.objectContaining({ toolSpec: expect.objectContaining({ name: 'weather' }) })], toolChoice: { tool: { name: 'weather' } } })
  })

  it('a response_format Converse cannot honour is refused as the client\'s error, naming the field', () => {
    expect(() => toConverseRequest({ ...ask, response_format: { type: 'xml' } })).toThrow(/response_format\.type must be "text", "json_object" or "json_schema"/)
    const clash = { ...ask, tools: [{ type: 'function', function: { name: 'weather' } }], response_format: { type: 'json_schema', json_schema: { name: 'weather', schema: weather } } }
    expect(() => toConverseRequest(clash)).toThrow(/response_format: the tool name "weather" is taken/)
    expect(structuredOutput({ response_format: { type: 'json_schema', json_schema: { name: 'has spaces', schema: weather } } })?.name).toBe('json_response')
  })

  it('the JSON tool\'s input comes back as the message content, finish_reason stop, no tool call; other tools stay tool calls', () => {
    const json = toOpenAIResponse({ output: { message: { role: 'assistant', content: [{ toolUse: { toolUseId: 't', name: 'weather', input: { city: 'Paris', temperature: 21 } } }] } }, stopReason: 'tool_use' }, 'm', 0, 'weather') as any
    expect(json.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: '{"city":"Paris","temperature":21}' } })
    expect(json.choices[0].message.tool_calls).toBeUndefined()
    const theirs = toOpenAIResponse({ output: { message: { role: 'assistant', content: [{ toolUse: { toolUseId: 't', name: 'get_weather', input: {} } }] } }, stopReason: 'tool_use' }, 'm', 0, 'weather') as any
    expect(theirs.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { content: null, tool_calls: [{ function: { name: 'get_weather' } }] } })
  })

  it('streamed: the JSON tool\'s input deltas are content deltas, and the text before it is not part of the answer', () => {
    const t = new ConverseStreamTranslator('m', 0, 'weather')
    const msg = (type: string, payload: object) => ({ headers: { ':event-type': type, ':message-type': 'event' }, payload: new TextEncoder().encode(JSON.stringify(payload)) })
    const events = [
      msg('messageStart', { role: 'assistant' }),
      msg('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Here it is:' } }),
      msg('contentBlockStart', { contentBlockIndex: 1, start: { toolUse: { toolUseId: 't', name: 'weather' } } }),
      msg('contentBlockDelta', { contentBlockIndex: 1, delta: { toolUse: { input: '{"city":"Pa' } } }),
      msg('contentBlockDelta', { contentBlockIndex: 1, delta: { toolUse: { input: 'ris","temperature":21}' } } }),
      msg('messageStop', { stopReason: 'tool_use' }),
      msg('metadata', { usage: { inputTokens: 3, outputTokens: 4 } }),
    ]
    const chunks = events.flatMap((e) => t.push(e)).map((b) => new TextDecoder().decode(b)).filter((l) => l !== 'data: [DONE]\n\n').map((l) => JSON.parse(l.slice(6)))
    const deltas = chunks.flatMap((c) => c.choices)
    expect(deltas.map((c) => c.delta.content ?? '').join('')).toBe('{"city":"Paris","temperature":21}')
    expect(deltas.some((c) => c.delta.tool_calls)).toBe(false)
    expect(deltas.at(-1).finish_reason).toBe('stop')
  })

  it('an image URL is refused as a client error (Converse takes bytes only)', () => {
    expect(() => toConverseRequest({ model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] })).toThrow(/base64/)
  })

  it('maps stop reasons and counts cache reads and writes as prompt tokens', () => {
    const r = toOpenAIResponse({ output: { message: { role: 'assistant', content: [{ text: 'a' }, { toolUse: { toolUseId: 't', name: 'f', input: { x: 1 } } }] } }, stopReason: 'tool_use', usage: { inputTokens: 5, outputTokens: 2, cacheReadInputTokens: 10, cacheWriteInputTokens: 3 } }, 'm')
    expect(r).toMatchObject({ choices: [{ finish_reason: 'tool_calls', message: { content: 'a', tool_calls: [{ id: 't', function: { name: 'f', arguments: '{"x":1}' } }] } }] })
    expect(toOpenAIUsage({ inputTokens: 5, outputTokens: 2, cacheReadInputTokens: 10, cacheWriteInputTokens: 3 })).toMatchObject({ prompt_tokens: 18, completion_tokens: 2, total_tokens: 20, prompt_tokens_details: { cached_tokens: 10 }, cache_creation_input_tokens: 3 })
    const finish = (s: string) => (toOpenAIResponse({ output: { message: { role: 'assistant', content: [] } }, stopReason: s }, 'm') as any).choices[0].finish_reason
    expect(['end_turn', 'max_tokens', 'stop_sequence', 'guardrail_intervened', 'content_filtered'].map(finish)).toEqual(['stop', 'length', 'stop', 'content_filter', 'content_filter'])
  })
})

describe('Bedrock exceptions', () => {
  it.each([
    ['ThrottlingException', 'Too many requests', 429, 'rate_limit'],
    ['ValidationException', 'Input is too long for requested model.', 400, 'context_window'],
    ['ValidationException', 'Malformed input request', 400, 'bad_request'],
    ['ModelNotReadyException', 'Model is not ready', 429, 'server'],
    ['ServiceUnavailableException', 'Service unavailable', 503, 'server'],
    ['InternalServerException', 'Internal error', 500, 'server'],
    ['AccessDeniedException', "You don't have access", 403, 'auth'],
    ['throttlingException', 'in a stream', undefined, 'rate_limit'],
  ] as const)('%s (%s) is %s', (name, message, status, cls) => {
    expect(classify(name, message, status)).toBe(cls)
  })
})
