// The gateway behind an ingress that is not OpenAI's: every refusal and failure for a request on
// its path reaches the client through its error(), answers through its respond() and stream(), and
// its context names who owns what the request stores. A stand-in translator speaks a small
// Anthropic-like dialect so the tests can tell its answers from OpenAI's.
import { describe, expect, it } from 'vitest'
import type { Ingress, IngressContext } from '../../src/api/ingress.ts'
import type { GatewayError } from '../../src/api/errors.ts'
import { buildConfig } from '../../src/config/source.ts'
import { Services } from '../../src/pipeline/services.ts'
import { serve } from '../../src/pipeline/serve.ts'
import { sha256Hex } from '../../src/auth/hash.ts'
import { silentLogger } from '../../src/telemetry/log.ts'
import { echoConfig } from '../helpers/configs.ts'
import { backendsYaml, fakeClock, fakeFleet, keyedGateway, openGateway, routeYaml, type FakeFleet } from '../helpers/fake-fleet.ts'
import { webStream } from '../../src/providers/types.ts'

const scopes: string[] = []
const dialect: Ingress = {
  parse(json) {
    const j = json as { model: string; say: string; stream?: boolean; scope?: boolean; crash?: boolean }
    if (j.crash) throw new Error('a translator bug')
    return { op: 'chat', model: j.model, body: { model: j.model, messages: [{ role: 'user', content: j.say }], stream: j.stream }, stream: j.stream === true, clientWantsUsage: false, state: j.scope }
  },
  async respond(body, req, ctx) {
    if (req.state) scopes.push(await ctx.scope())
    const choice = (body.choices as Array<{ message: { content: string } }>)[0]!
    return { type: 'message', text: choice.message.content }
  },
  stream(body) {
    const prefix = new TextEncoder().encode('event: dialect\n')
    let first = true
    return webStream(body).pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        if (first) c.enqueue(prefix)
        first = false
        c.enqueue(chunk)
      },
    }))
  },
  error(err: GatewayError, headers) {
    return Response.json({ type: 'error', error: { type: `dialect_${err.type}`, message: err.message } }, { status: err.status, headers: { ...err.headers, ...headers } })
  },
}

async function gateway(yaml: string, fleet: FakeFleet = fakeFleet()) {
  const config = await buildConfig(yaml, () => undefined)
  const s = new Services({ config: () => config, fetch: fleet.fetch, log: silentLogger, clock: fakeClock(), aggregatesFlushMs: 0 })
  return (body: Record<string, unknown>, headers: Record<string, string> = {}) => {
    const req = new Request('http://kortex.test/v1/dialect', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
    return serve(s, dialect, req, '/v1/dialect', { waitUntil: () => {} })
  }
}

const fleetYaml = (gw: string, routeSpec = '  models: [m]\n  defaultBackend: { name: a }\n') => `${gw}---\n${backendsYaml(['a'])}${routeYaml(routeSpec)}`

async function dialectError(res: Response) {
  const body = await res.json()
  expect(body).toEqual({ type: 'error', error: { type: expect.stringMatching(/^dialect_/), message: expect.any(String) } })
  expect(res.headers.get('x-request-id')).toBeTruthy()
  return body.error as { type: string; message: string }
}

describe("an ingress's errors", () => {
  it('a missing key and a wrong one are refused in its shape', async () => {
    const send = await gateway(fleetYaml(keyedGateway(['{ name: batch, key: kx-batch-key-0001 }'])))
    const missing = await send({ model: 'm', say: 'hi' })
    expect(missing.status).toBe(401)
    expect((await dialectError(missing)).type).toBe('dialect_authentication_error')
    const wrong = await send({ model: 'm', say: 'hi' }, { 'x-api-key': 'kx-wrong-key-00001' })
    expect(wrong.status).toBe(401)
    await dialectError(wrong)
  })

  it('a rate limit, with its Retry-After', async () => {
    const send = await gateway(fleetYaml(keyedGateway(['{ name: batch, key: kx-batch-key-0001, limits: { requestsPerMinute: 1 } }'])))
    const key = { authorization: 'Bearer kx-batch-key-0001' }
    expect((await send({ model: 'm', say: 'hi' }, key)).status).toBe(200)
    const limited = await send({ model: 'm', say: 'hi' }, key)
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBeTruthy()
    expect((await dialectError(limited)).type).toBe('dialect_rate_limit_error')
  })

  it('a model no route serves', async () => {
    const send = await gateway(fleetYaml(openGateway))
    const res = await send({ model: 'nope', say: 'hi' })
    expect(res.status).toBeGreaterThanOrEqual(400)
    expect((await dialectError(res)).message).toContain('nope')
  })

  it('an upstream that fails, with the route and attempts in the headers', async () => {
    const fleet = fakeFleet()
    fleet.set('a', { status: 500, message: 'the upstream broke' })
    const send = await gateway(fleetYaml(openGateway), fleet)
    const res = await send({ model: 'm', say: 'hi' })
    expect(res.status).toBeGreaterThanOrEqual(500)
    expect(res.headers.get('x-kortex-route')).toBe('r')
    expect(Number(res.headers.get('x-kortex-attempts'))).toBeGreaterThan(0)
    await dialectError(res)
  })

  it('an internal error says no more than that', async () => {
    const send = await gateway(fleetYaml(openGateway))
    const res = await send({ model: 'm', say: 'hi', crash: true })
    expect(res.status).toBe(500)
    const err = await dialectError(res)
    expect(err.message).not.toContain('translator bug')
  })
})

describe("an ingress's answers", () => {
  it('a complete answer goes through respond()', async () => {
    const send = await gateway(echoConfig('m'))
    const res = await send({ model: 'm', say: 'Hello' })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-kortex-backend')).toBe('echo')
    expect(await res.json()).toEqual({ type: 'message', text: expect.stringContaining('Hello') })
  })

  it('a stream goes through stream()', async () => {
    const send = await gateway(echoConfig('m'))
    const res = await send({ model: 'm', say: 'Hello', stream: true })
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const text = await res.text()
    expect(text.startsWith('event: dialect\n')).toBe(true)
    expect(text).toContain('data: [DONE]')
  })
})

describe("an ingress's scope", () => {
  const ask = async (gw: string, headers: Record<string, string> = {}) => {
    const send = await gateway(`${gw}---\n${echoConfig('m').split('---\n').slice(1).join('---\n')}`)
    scopes.length = 0
    expect((await send({ model: 'm', say: 'hi', scope: true }, headers)).status).toBe(200)
    return scopes[0]
  }

  it("is the key's name on a keyed request", async () => {
    expect(await ask(keyedGateway(['{ name: batch, key: kx-batch-key-0001 }']), { authorization: 'Bearer kx-batch-key-0001' })).toBe('key:batch')
  })

  it('on an open gateway, a digest of the key presented: two keys, two scopes; no key, anonymous', async () => {
    const a = await ask(openGateway, { authorization: 'Bearer test-client-one' })
    const b = await ask(openGateway, { 'x-api-key': 'test-client-two' })
    expect(a).toBe((await sha256Hex('test-client-one')).slice(0, 32))
    expect(b).toBe((await sha256Hex('test-client-two')).slice(0, 32))
    expect(a).not.toContain('client')
    expect(await ask(openGateway)).toBe('anonymous')
  })
})

// The context's type is what translators get; nothing else of RequestContext leaks into their contract.
const _typed: (c: IngressContext) => Promise<string> = (c) => c.scope()
void _typed
