// A client's own mistakes are the client's: a body no backend could be sent
// is refused with a 400 before any attempt, and nothing a client sends can
// count against a backend's breaker (which would move every other tenant
// onto the fallbacks).
import { describe, expect, it } from 'vitest'
import { backendsYaml, fakeFleet, openGateway, routeYaml, testGateway } from '../helpers/fake-fleet.ts'

const yaml = `${openGateway}---\n${backendsYaml(['a', 'b'], { a: '  circuitBreaker: { consecutiveFailures: 5, cooldownSeconds: 60 }\n' })}${routeYaml('  defaultBackend: { name: a }\n  fallback: { backends: [b] }\n')}`

/** A JSON text nested `depth` levels deep (built as text: JSON.stringify itself cannot go that deep). */
const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)
const bodyWith = (field: string, depth: number) => `{"model":"m","messages":[{"role":"user","content":"hi"}],"${field}":${nested(depth)}}`

describe('a body nested thousands of levels deep', () => {
  it('is a 400 before any attempt, and six of them leave the backend serving everyone else', async () => {
    const fleet = fakeFleet()
    const gw = await testGateway(yaml, fleet)
    for (const field of ['metadata', 'tools', 'response_format', 'logit_bias', 'extra', 'user_data']) {
      const res = await gw.call('/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: bodyWith(field, 6000) })
      expect(res.status).toBe(400)
      const body = (await res.json()) as any
      expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' })
      expect(body.error.message).toMatch(/nested/)
    }
    expect(fleet.log).toEqual([])
    const res = await gw.chat()
    expect(res.status).toBe(200)
    expect(res.headers.get('x-kortex-backend')).toBe('a')
    expect(gw.fleet.breaker(gw.config.backends.get('default/a')!).snapshot().state).toBe('closed')
  })

  it('inside a message too (streaming or not)', async () => {
    const fleet = fakeFleet()
    const gw = await testGateway(yaml, fleet)
    for (const stream of [false, true]) {
      const body = `{"model":"m","stream":${stream},"messages":[{"role":"user","content":[{"type":"text","text":"hi","x":${nested(6000)}}]}]}`
      const res = await gw.call('/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      expect(res.status).toBe(400)
    }
    expect(fleet.log).toEqual([])
  })

  it('a body nested as deep as real ones (a JSON schema in a tool) still goes through', async () => {
    const fleet = fakeFleet()
    const gw = await testGateway(yaml, fleet)
    const res = await gw.call('/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: bodyWith('metadata', 40) })
    expect(res.status).toBe(200)
  })
})

describe('nothing a client sends counts against a backend', () => {
  // An Anthropic backend: the gateway parses tool-call arguments (a string) to send them on as objects.
  const claude = `${openGateway}---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: claude }
spec:
  type: external
  external: { url: "http://claude.test", provider: anthropic, model: claude-x }
  circuitBreaker: { consecutiveFailures: 5, cooldownSeconds: 60 }
---
${backendsYaml(['b'])}${routeYaml('  defaultBackend: { name: claude }\n  fallback: { backends: [b] }\n')}`
  const message = { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [{ type: 'text', text: 'from claude' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 3, output_tokens: 2 } }

  it('tool-call arguments nested thousands deep: 400 each time, and the backend still serves the next request', async () => {
    const fleet = fakeFleet()
    const fetch = async (input: string | URL | Request, init?: RequestInit) =>
      String(input).startsWith('http://claude.test') ? (fleet.log.push('claude'), Response.json(message)) : fleet.fetch(input, init)
    const gw = await testGateway(claude, fleet, undefined, { fetch })
    const call = { id: 'call_1', type: 'function', function: { name: 'f', arguments: nested(6000) } }
    const messages = [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: 'call_1', content: 'done' },
    ]
    for (let i = 0; i < 6; i++) {
      const res = await gw.chat({}, { messages })
      expect(res.status).toBe(400)
      expect(((await res.json()) as any).error.type).toBe('invalid_request_error')
    }
    expect(fleet.log).toEqual([])
    const res = await gw.chat()
    expect(res.status).toBe(200)
    expect(res.headers.get('x-kortex-backend')).toBe('claude')
  })
})
