// The Gemini translator on its own: requests as Gemini wants them, Google's
// error statuses classified, streams that end badly never looking complete,
// and the config naming what a Gemini or Vertex backend lacks.
import { describe, expect, it } from 'vitest'
import { toGeminiRequest } from '../../src/providers/gemini/request.ts'
import { classifyGoogleError } from '../../src/providers/gemini/errors.ts'
import { openStream } from '../../src/providers/gemini/stream.ts'
import { toOpenAIResponse } from '../../src/providers/gemini/response.ts'
import { UpstreamError } from '../../src/providers/errors.ts'
import { ConfigError, parseConfigText } from '../../src/config/load.ts'
import { buildConfig } from '../../src/config/source.ts'

describe('request', () => {
  it('merges turns of one role, puts images inline and pins a named tool', () => {
    const r = toGeminiRequest({
      model: 'gemini-2.5-flash',
      stop: 'END',
      messages: [
        { role: 'developer', content: [{ type: 'text', text: 'Rules.' }] },
        { role: 'user', content: 'look' },
        { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] },
      ],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      tool_choice: { type: 'function', function: { name: 'f' } },
    })
    expect(r.systemInstruction).toEqual({ parts: [{ text: 'Rules.' }] })
    expect(r.contents).toEqual([{ role: 'user', parts: [{ text: 'look' }, { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } }] }])
    expect(r.generationConfig).toEqual({ stopSequences: ['END'] })
    expect(r.toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['f'] } })
  })

  it('a tool result answering no earlier call is the client\'s error, with the field named', () => {
    const err = (() => {
      try {
        toGeminiRequest({ messages: [{ role: 'tool', tool_call_id: 'call_x', content: 'hi' }] })
      } catch (e) {
        return e as UpstreamError
      }
    })()
    expect(err?.cls).toBe('bad_request')
    expect(err?.param).toBe('messages[0].tool_call_id')
  })

  it('a plain-text tool result goes as {content}', () => {
    const r = toGeminiRequest({
      messages: [
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
      ],
    })
    expect(r.contents[1]).toEqual({ role: 'user', parts: [{ functionResponse: { name: 'f', response: { content: 'sunny' } } }] })
  })
})

describe('errors', () => {
  it.each([
    [429, 'RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).', 'rate_limit'],
    [400, 'INVALID_ARGUMENT', 'The input token count (1048577) exceeds the maximum number of tokens allowed (1048576).', 'context_window'],
    [400, 'INVALID_ARGUMENT', 'Invalid value at \'contents[0].role\'', 'bad_request'],
    [503, 'UNAVAILABLE', 'The model is overloaded.', 'server'],
    [500, 'INTERNAL', 'An internal error has occurred.', 'server'],
    [401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.', 'auth'],
    [403, 'PERMISSION_DENIED', 'Permission denied on resource project x.', 'auth'],
  ])('HTTP %i %s is %s', (code, status, message, cls) => {
    expect(classifyGoogleError(code, { code, status, message }).cls).toBe(cls)
  })

  it('a bad API key (400 INVALID_ARGUMENT, reason API_KEY_INVALID) is our credentials failing, not the client\'s request', () => {
    const e = classifyGoogleError(400, { code: 400, status: 'INVALID_ARGUMENT', message: 'API key not valid. Please pass a valid API key.', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID' }] })
    expect(e.cls).toBe('auth')
  })
})

describe('stream', () => {
  const enc = new TextEncoder()
  const body = (...events: string[]) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        for (const e of events) c.enqueue(enc.encode(e))
        c.close()
      },
    })
  const read = async (s: ReadableStream<Uint8Array>) => new Response(s).text()
  const chunk = (text: string, extra: object = {}) => `data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0, ...extra }] })}\r\n\r\n`

  it('a stream that ends without a finishReason ends in an error event, never [DONE]', async () => {
    const out = await read(await openStream(body(chunk('Hel'), chunk('lo')), 'm', new AbortController().signal))
    expect(out).toContain('"content":"Hel"')
    expect(out).toContain('upstream_stream_truncated')
    expect(out).not.toContain('[DONE]')
  })

  it('an error event after content is passed on, classified so the client reads it', async () => {
    const err = `data: ${JSON.stringify({ error: { code: 429, status: 'RESOURCE_EXHAUSTED', message: 'quota' } })}\r\n\r\n`
    const out = await read(await openStream(body(chunk('Hi'), err), 'm', new AbortController().signal))
    expect(out).toContain('"code":"rate_limit_exceeded"')
    expect(out).not.toContain('[DONE]')
  })

  it('a complete stream ends with the usage chunk and [DONE]; without usageMetadata, no invented zeros', async () => {
    const usage = { promptTokenCount: 7, candidatesTokenCount: 2, totalTokenCount: 9 }
    const full = await read(await openStream(body(chunk('Hel'), `data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text: 'lo' }] }, finishReason: 'MAX_TOKENS', index: 0 }], usageMetadata: usage })}\r\n\r\n`), 'm', new AbortController().signal))
    expect(full).toContain('"finish_reason":"length"')
    expect(full).toContain('"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9')
    expect(full.endsWith('data: [DONE]\n\n')).toBe(true)
    const bare = await read(await openStream(body(chunk('Hi', { finishReason: 'STOP' })), 'm', new AbortController().signal))
    expect(bare).not.toContain('"usage"')
    expect(bare).toContain('[DONE]')
    expect(toOpenAIResponse({ candidates: [{ content: { parts: [{ text: 'x' }] }, finishReason: 'STOP' }] }, 'm').usage).toBeUndefined()
  })

  it('an error event before any content is thrown, so another backend can be tried', async () => {
    const err = `data: ${JSON.stringify({ error: { code: 503, status: 'UNAVAILABLE', message: 'overloaded' } })}\r\n\r\n`
    const e = await openStream(body(err), 'm', new AbortController().signal).catch((x) => x)
    expect(e).toBeInstanceOf(UpstreamError)
    expect(e.cls).toBe('server')
  })
})

describe('config', () => {
  const doc = (external: string) => `apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: b }
spec:
  type: external
  external: ${external}
`
  const problems = (text: string) => {
    try {
      parseConfigText(text)
    } catch (e) {
      if (e instanceof ConfigError) return e.problems.map((p) => `${p.path}: ${p.message}`)
      throw e
    }
    return []
  }

  it('a Vertex backend without project or location is refused, naming each', () => {
    const p = problems(doc('{ url: "https://us-central1-aiplatform.googleapis.com", provider: vertex }'))
    expect(p.join('\n')).toMatch(/external\.project: provider vertex needs "project"/)
    expect(p.join('\n')).toMatch(/external\.location: provider vertex needs "location"/)
  })

  it('a Gemini backend without an API key secret is refused', () => {
    expect(problems(doc('{ url: "https://generativelanguage.googleapis.com", provider: gemini }')).join('\n')).toContain('provider gemini needs "apiKeySecret"')
  })

  it('a Vertex secret that is not a service-account key: a warning at load, and the backend unavailable', async () => {
    const c = await buildConfig(
      doc('{ url: "https://us-central1-aiplatform.googleapis.com", provider: vertex, project: p, location: us-central1, apiKeySecret: { name: sa, key: json } }'),
      (n) => (n === 'SA_JSON' ? '{"client_email":"x@y"}' : undefined),
    )
    expect(c.warnings.join('\n')).toContain('secret sa/json has no "private_key"')
    expect(c.backends.get('default/b')!.missingSecret).toContain('service-account key')
  })
})
