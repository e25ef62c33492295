// A rollout as Kubernetes does it: SIGTERM to the `kortex` process while
// streams and slow requests are in flight. The upstream holds every answer
// until the test lets go, so what is in flight when the signal lands is
// known, not timed.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { readText, startServer, type TestServer } from '../helpers/server.ts'
import { chatCompletion } from '../upstreams/openai.ts'
import { eventually } from '../helpers/kortex.ts'
import type { ServerResponse } from 'node:http'
import { ResponseList } from '../../adapters/node/drain.ts'

const bin = new URL('../../bin/kortex.js', import.meta.url).pathname
const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f()
})

/** An OpenAI upstream that sends a stream's first words, then waits for release() to finish any answer. */
async function heldUpstream(): Promise<TestServer & { arrived: () => number; release: () => void }> {
  let release!: () => void
  const released = new Promise<void>((r) => (release = r))
  let arrived = 0
  const chunk = (delta: object, finish: string | null) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
  const server = await startServer(async (req, res) => {
    const body = JSON.parse(await readText(req))
    arrived++
    if (body.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(chunk({ role: 'assistant', content: 'Hello' }, null))
      await released
      res.write(chunk({ content: ' world' }, null) + chunk({}, 'stop'))
      res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', choices: [], usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 } })}\n\n`)
      res.end('data: [DONE]\n\n')
    } else {
      await released
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(chatCompletion('gpt-4o', 'Hello world')))
    }
  })
  cleanup.push(() => server.close())
  return Object.assign(server, { arrived: () => arrived, release })
}

const config = (upstream: string) => `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { open: true } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: held }
spec:
  type: external
  external: { url: ${upstream}/v1, provider: openai, apiKeySecret: { name: test-openai, key: api-key } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r }
spec: { models: [gpt-4o], defaultBackend: { name: held } }
`

interface Gateway {
  url: string
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exit: Promise<number | null>
}

async function startGateway(upstream: string, env: Record<string, string> = {}): Promise<Gateway> {
  const file = join(mkdtempSync(join(tmpdir(), 'kortex-drain-')), 'k.yaml')
  writeFileSync(file, config(upstream))
  const child = spawn(process.execPath, [bin, '--config', file], { env: { ...process.env, PORT: '0', TEST_OPENAI_API_KEY: 'test-test', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  cleanup.push(() => child.kill('SIGKILL'))
  let out = ''
  let err = ''
  child.stdout!.on('data', (d) => (out += d))
  const exit = new Promise<number | null>((r) => child.on('exit', r))
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      err += d
      const m = /listening on (http:\/\/\S+)/.exec(err)
      if (m) resolve(m[1]!)
    })
    exit.then((code) => reject(new Error(`exited ${code}: ${err}`)))
  })
  return { url, child, stdout: () => out, stderr: () => err, exit }
}

const chat = (url: string, stream: boolean) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o', stream, messages: [{ role: 'user', content: 'hi' }] }),
  })

/** 8 streams (their first words read) and 4 slow requests, all waiting on the upstream. */
async function inFlight(g: Gateway, up: { arrived: () => number }) {
  const streams = await Promise.all(Array.from({ length: 8 }, () => chat(g.url, true)))
  const readers = streams.map(async (res) => {
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    let text = ''
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return text
      text += new TextDecoder().decode(value)
    }
  })
  const slow = Array.from({ length: 4 }, () => chat(g.url, false).then(async (r) => ({ status: r.status, connection: r.headers.get('connection'), body: await r.json() })))
  await eventually(() => up.arrived() === 12)
  return { streams: Promise.allSettled(readers), slow: Promise.allSettled(slow) }
}

/** A kept-alive connection that has served a request and sits idle. */
async function idleConnection(url: string): Promise<{ closed: Promise<void> }> {
  const { hostname, port } = new URL(url)
  const socket: Socket = connect(Number(port), hostname)
  const closed = new Promise<void>((r) => socket.on('close', () => r()))
  socket.write(`GET /healthz HTTP/1.1\r\nhost: ${hostname}\r\nconnection: keep-alive\r\n\r\n`)
  await new Promise<void>((r) => socket.once('data', () => r()))
  cleanup.push(() => socket.destroy())
  return { closed }
}

/** Ready means a new connection gets 200 from /readyz; a draining gateway refuses the connection or answers 503. */
async function readyStatus(url: string): Promise<number | 'refused'> {
  try {
    const res = await fetch(`${url}/readyz`, { headers: { connection: 'close' } })
    await res.body?.cancel()
    return res.status
  } catch {
    return 'refused'
  }
}

const costRecords = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((r) => r.type === 'cost')

it('SIGTERM: no longer ready, idle connections closed, every stream and slow request finishes, every cost record written, exit 0', async () => {
  const up = await heldUpstream()
  const g = await startGateway(up.url)
  expect(await readyStatus(g.url)).toBe(200)
  const idle = await idleConnection(g.url)
  const { streams, slow } = await inFlight(g, up)

  g.child.kill('SIGTERM')
  await idle.closed
  await eventually(async () => (await readyStatus(g.url)) !== 200)
  up.release()

  for (const s of await streams) {
    expect(s.status).toBe('fulfilled')
    const text = (s as PromiseFulfilledResult<string>).value
    expect(text).toContain('" world"')
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true)
  }
  for (const r of await slow) {
    expect(r.status).toBe('fulfilled')
    const { status, connection, body } = (r as PromiseFulfilledResult<{ status: number; connection: string; body: any }>).value
    expect(status).toBe(200)
    expect(body.choices[0].message.content).toBe('Hello world')
    expect(connection).toBe('close') // the client's next request opens a connection to another instance
  }
  expect(await g.exit).toBe(0)
  const records = costRecords(g.stdout())
  expect(records).toHaveLength(12)
  // The upstream's own usage: 2 tokens for each stream, 12 for each whole answer.
  expect(records.map((r) => r.outputTokens).sort((a, b) => a - b)).toEqual([...Array(8).fill(2), ...Array(4).fill(12)])
  expect(g.stderr()).toMatch(/SIGTERM: shutting down/)
  expect(g.stderr()).toMatch(/stopped: 12 requests finished; records written/)
})

it('past the drain deadline: streams end in an error event, slow requests get a 503 to retry, cost records are still written, exit 0', async () => {
  const up = await heldUpstream()
  const g = await startGateway(up.url, { KORTEX_DRAIN_SECONDS: '0.5' })
  const { streams, slow } = await inFlight(g, up)

  g.child.kill('SIGTERM') // the upstream never lets go
  for (const s of await streams) {
    expect(s.status).toBe('fulfilled')
    const text = (s as PromiseFulfilledResult<string>).value
    const last = text.trimEnd().split('\n\n').pop()!
    expect(JSON.parse(last.replace(/^data: /, ''))).toMatchObject({ error: { code: 'gateway_shutting_down' } })
  }
  for (const r of await slow) {
    expect(r.status).toBe('fulfilled')
    const { status, body } = (r as PromiseFulfilledResult<{ status: number; body: any }>).value
    expect(status).toBe(503)
    expect(body.error).toMatchObject({ code: 'gateway_shutting_down', type: 'api_error' })
  }
  expect(await g.exit).toBe(0)
  expect(costRecords(g.stdout())).toHaveLength(8)
})

it('the in-flight list: each response once, in any order of removal, even one removed while it is visited', () => {
  const list = new ResponseList()
  const rs = [1, 2, 3, 4].map(() => ({}) as ServerResponse)
  for (const r of rs) list.add(r)
  list.add(rs[0]!) // twice: still once
  expect(list.size).toBe(4)
  expect(list.delete(rs[2]!)).toBe(true)
  expect(list.delete(rs[2]!)).toBe(false)
  const seen: ServerResponse[] = []
  for (const r of list) seen.push(r), list.delete(r)
  expect(seen).toHaveLength(3)
  expect(new Set(seen)).toEqual(new Set([rs[0], rs[1], rs[3]]))
  expect(list.size).toBe(0)
  expect([...list]).toEqual([])
})
