// No credential the gateway holds reaches a client or a log line, whatever
// an upstream echoes back: provider keys, backend header values, the cost
// sink's token, the runtime's own secrets (the controller token). Each case
// is an upstream that quotes them in an error, the way a misbehaving proxy
// or a verbose provider does.
import { describe, expect, it } from 'vitest'
import { createGateway, type GatewayDeps } from '../../src/app.ts'
import { buildConfig } from '../../src/config/source.ts'
import type { Logger } from '../../src/telemetry/log.ts'
import { fakeClock } from '../helpers/fake-fleet.ts'

const KEY = 'test-provider-key-0123456789abcdef'
const HEADER = 'hdr-secret-value-9876543210'
const SINK = 'sink-token-abcdefghijklmnop'
const CONTROLLER = 'controller-token-zyxwvutsrq'
const ALL = [KEY, HEADER, SINK, CONTROLLER]
const env: Record<string, string> = { UP_CREDENTIALS_API_KEY: KEY, SINK_TOKEN: SINK }
const quoted = `refused: key ${KEY}, header ${HEADER}, sink ${SINK}, controller ${CONTROLLER}`

const yaml = (provider: string) => `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec:
  auth: { open: true }
  cost: { sink: { url: "http://sink.test/records", tokenEnv: SINK_TOKEN, flushSeconds: 3600 } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: up }
spec:
  type: external
  external:
    url: "http://up.test/v1"
    provider: ${provider}
    apiKeySecret: { name: up-credentials, key: api-key }
    headers: { x-org-token: ${HEADER} }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r }
spec:
  models: [m]
  defaultBackend: { name: up }
`

type Upstream = (url: string) => Response

async function gateway(provider: string, upstream: Upstream, deps: Partial<GatewayDeps> = {}) {
  const config = await buildConfig(yaml(provider), (n) => env[n])
  const lines: string[] = []
  const records: Record<string, unknown>[] = []
  const log: Logger = {
    record: (r) => (records.push(r), lines.push(JSON.stringify(r))),
    warn: (m, f) => lines.push(JSON.stringify({ m, ...f })),
    error: (m, f) => lines.push(JSON.stringify({ m, ...f })),
  }
  const pending: Promise<unknown>[] = []
  const gw = createGateway({
    config: () => config,
    fetch: async (input) => upstream(String(input)),
    log,
    clock: fakeClock(),
    aggregatesFlushMs: 0,
    secrets: (n) => env[n],
    secretValues: () => [CONTROLLER],
    ...deps,
  })
  const chat = (stream: boolean) =>
    gw.fetch(
      new Request('http://kortex.test/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream, messages: [{ role: 'user', content: 'hi' }] }) }),
      { waitUntil: (p) => void pending.push(p) },
    )
  const settle = async () => {
    while (pending.length) await Promise.all(pending.splice(0))
  }
  return { chat, settle, lines, records, flush: () => gw.flush() }
}

const sse = (...events: unknown[]) => new Response(events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`).join(''), { headers: { 'content-type': 'text/event-stream' } })
const chunk = (content: string) => ({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] })
const leaks = (text: string) => ALL.filter((s) => text.includes(s))

describe('secrets never reach a client or a log', () => {
  it('an error event before any content: the 502 the client gets quotes none of them', async () => {
    const g = await gateway('openai', () => sse({ error: { message: quoted, type: 'invalid_request_error', code: 'invalid_api_key' } }))
    const res = await g.chat(true)
    expect(res.status).toBe(502)
    const text = await res.text()
    expect(text).toContain('refused: key ***')
    expect(leaks(text)).toEqual([])
    await g.settle()
    expect(leaks(g.lines.join('\n'))).toEqual([])
  })

  it('an error event mid-stream: the event the client reads and the access log line quote none of them', async () => {
    const g = await gateway('openai', () => sse(chunk('Hel'), { error: { message: quoted, type: 'server_error', code: 'boom' } }))
    const res = await g.chat(true)
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(text).toContain('Hel')
    expect(text).toContain('"code":"boom"')
    expect(leaks(text)).toEqual([])
    await g.settle()
    const access = g.records.find((r) => r.type === 'access')!
    expect(access.streamError).toContain('refused: key ***')
    expect(leaks(g.lines.join('\n'))).toEqual([])
  })

  it('an Anthropic error event mid-stream: the same', async () => {
    const g = await gateway('anthropic', () =>
      new Response(
        [
          `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'msg_1', model: 'claude', usage: { input_tokens: 3 } } })}`,
          `event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } })}`,
          `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: quoted } })}`,
        ].join('\n\n') + '\n\n',
        { headers: { 'content-type': 'text/event-stream' } },
      ),
    )
    const res = await g.chat(true)
    const text = await res.text()
    expect(text).toContain('Hel')
    expect(text).toContain('overloaded_error')
    expect(leaks(text)).toEqual([])
    await g.settle()
    expect(g.records.find((r) => r.type === 'access')!.streamError).toContain('***')
    expect(leaks(g.lines.join('\n'))).toEqual([])
  })

  it('a non-streaming error that echoes a header value, the sink token or the controller token: masked too', async () => {
    const g = await gateway('openai', () => Response.json({ error: { message: quoted, type: 'server_error' } }, { status: 500 }))
    const res = await g.chat(false)
    expect(res.status).toBe(502)
    const text = await res.text()
    expect(JSON.parse(text).error.message).toContain('controller ***')
    expect(leaks(text)).toEqual([])
  })

  it("a warning that quotes one (the cost sink's failure): masked in the log line", async () => {
    const g = await gateway('openai', (url) => {
      if (url.startsWith('http://sink.test')) throw new Error(`connect refused for Bearer ${SINK} (controller ${CONTROLLER})`)
      return Response.json({ id: 'c1', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } })
    })
    expect((await g.chat(false)).status).toBe(200)
    await g.settle()
    await g.flush()
    const log = g.lines.join('\n')
    expect(log).toContain('cost sink failed')
    expect(log).toContain('Bearer ***')
    expect(leaks(log)).toEqual([])
  })
})

describe('a credential rotated while a request is in flight', () => {
  it("the old one, quoted back after the new config took over, is still masked for that request's client and log", async () => {
    let config = await buildConfig(yaml('openai'), (n) => env[n])
    const next = await buildConfig(yaml('openai').replace(HEADER, 'hdr-secret-value-NEW-0000000000'), (n) => env[n])
    let answer: ((r: Response) => void) | undefined
    const lines: string[] = []
    const gw = createGateway({
      config: () => config,
      // The upstream answers only once the rotation has been applied, quoting what the request was sent with.
      fetch: () => new Promise<Response>((r) => (answer = r)),
      log: { record: (r) => lines.push(JSON.stringify(r)), warn: (m, f) => lines.push(JSON.stringify({ m, ...f })), error: (m, f) => lines.push(JSON.stringify({ m, ...f })) },
      clock: fakeClock(),
      aggregatesFlushMs: 0,
      secrets: (n) => env[n],
    })
    const pending = gw.fetch(new Request('http://kortex.test/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) }))
    while (!answer) await new Promise((r) => setTimeout(r, 1))
    config = next
    answer(Response.json({ error: { message: `Unknown organization token ${HEADER}`, type: 'invalid_request_error' } }, { status: 400 }))
    const res = await pending
    expect(res.status).toBe(400)
    expect((await res.json()).error.message).toBe('Unknown organization token ***')
    expect(lines.join('\n')).not.toContain(HEADER)
  })
})

describe("one tenant's secrets cannot garble another's errors", () => {
  const PHRASE = 'Incorrect API key provided.'
  const twoTenants = `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec:
  auth: { keys: [{ name: app, key: kx-app-key-1234567890 }] }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: up, namespace: team-a }
spec: { type: external, external: { url: "http://a.test/v1", headers: { x-org: "${HEADER}" } } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: ra, namespace: team-a }
spec: { models: [a-model], defaultBackend: { name: up } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: noisy, namespace: team-b }
spec: { type: external, external: { url: "http://b.test/v1", headers: { x-note: "${PHRASE}" } } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: rb, namespace: team-b }
spec: { models: [b-model], defaultBackend: { name: noisy } }
`
  it("team-b's header value set to a common phrase leaves team-a's errors and the gateway's refusals readable; team-a's own secret is still masked", async () => {
    const config = await buildConfig(twoTenants, () => undefined)
    const gw = createGateway({
      config: () => config,
      fetch: async () => new Response(JSON.stringify({ error: { message: `${PHRASE} (you sent ${HEADER})`, type: 'invalid_request_error', code: 'invalid_value' } }), { status: 400 }),
      clock: fakeClock(),
      log: { record() {}, warn() {}, error() {} },
    })
    const chat = (key: string, model: string) =>
      gw.fetch(new Request('http://kortex.test/v1/chat/completions', { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) }))
    const refused = (await (await chat('kx-wrong', 'a-model')).json()) as { error: { message: string; code: string } }
    expect(refused.error).toMatchObject({ message: PHRASE, code: 'invalid_api_key' })
    const upstream = (await (await chat('kx-app-key-1234567890', 'a-model')).json()) as { error: { message: string; code: string } }
    expect(upstream.error.message).toContain(PHRASE)
    expect(upstream.error.message).not.toContain(HEADER)
    expect(upstream.error.code).toBe('invalid_value')
  })
})
