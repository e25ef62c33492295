// The two settings native sends read: a route's forwardHeaders (client
// headers it passes to native backends: header names, never credentials)
// and an OpenAI backend's responsesApi (native or, by default, translate).
import { describe, expect, it } from 'vitest'
import { buildConfig } from '../../src/config/source.ts'
import { ConfigError } from '../../src/config/load.ts'
import { speaksNatively } from '../../src/resilience/attempts.ts'

const yaml = (route: string, external = '') => `apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: a }
spec:
  type: external
  external: { url: "https://api.openai.com/v1"${external} }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: c }
spec:
  type: external
  external: { url: "https://api.anthropic.com", provider: anthropic }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r }
spec:
  defaultBackend: { name: a }
${route}`

const problems = async (text: string) => {
  try {
    await buildConfig(text, () => undefined)
    return ''
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return (err as ConfigError).message
  }
}

describe('route forwardHeaders', () => {
  it('compiles to lowercase names; none by default', async () => {
    expect((await buildConfig(yaml('  forwardHeaders: [Anthropic-Beta, openai-beta]\n'), () => undefined)).routes[0]!.forwardHeaders).toEqual(['anthropic-beta', 'openai-beta'])
    expect((await buildConfig(yaml(''), () => undefined)).routes[0]!.forwardHeaders).toEqual([])
  })

  it('refuses credentials and headers the gateway sets, and what is no header name', async () => {
    const msg = await problems(yaml('  forwardHeaders: [anthropic-beta, x-api-key, Authorization, "bad header"]\n'))
    expect(msg).toContain('spec.forwardHeaders[1]: cannot be forwarded')
    expect(msg).toContain('spec.forwardHeaders[2]: cannot be forwarded')
    expect(msg).toContain('spec.forwardHeaders[3]: must be an HTTP header name')
    expect(msg).not.toContain('forwardHeaders[0]')
  })
})

describe('backend responsesApi', () => {
  const backends = async (external: string) => {
    const c = await buildConfig(yaml('', external), () => undefined)
    return { a: c.backends.get('default/a')!, c: c.backends.get('default/c')! }
  }

  it('translate by default; native when set; Anthropic backends always take Messages natively', async () => {
    const plain = await backends('')
    expect(speaksNatively(plain.a, 'responses')).toBe(false)
    expect(speaksNatively((await backends(', responsesApi: native')).a, 'responses')).toBe(true)
    expect(speaksNatively(plain.a, 'messages')).toBe(false)
    expect(speaksNatively(plain.c, 'messages')).toBe(true)
    expect(speaksNatively(plain.c, 'responses')).toBe(false)
  })

  it('refuses other values', async () => {
    expect(await problems(yaml('', ', responsesApi: sometimes'))).toContain('responsesApi')
  })
})
