// Clients that go away or take their time: a real Kortex Node server, seen
// from the operator's log and from the other clients it keeps serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect, type Socket } from 'node:net'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startKortex, type Kortex } from '../../adapters/node/start.ts'
import { serverLimits } from '../../adapters/node/server-limits.ts'
import { startTestKortex, eventually, type TestKortex } from '../helpers/kortex.ts'
import { echoConfig } from '../helpers/configs.ts'

let k: TestKortex
beforeAll(async () => {
  k = await startTestKortex(echoConfig('m'))
})
afterAll(() => k?.close())

const chat = () => fetch(`${k.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) })

function open(port: number, text: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(text, () => resolve(s)))
    s.on('error', reject)
  })
}

it('a client that disconnects while uploading is not an unhandled error in the log, and others are served', async () => {
  for (const path of ['/v1/chat/completions', '/v1/responses', '/v1/messages']) {
    const s = await open(k.port, `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"model":"m","messages":[`)
    await new Promise((r) => setTimeout(r, 50))
    s.destroy()
  }
  // one with no declared length (chunked): the body is read as a stream
  const s = await open(k.port, `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"mod\r\n`)
  await new Promise((r) => setTimeout(r, 50))
  s.destroy()
  await eventually(async () => (await chat()).status === 200)
  await new Promise((r) => setTimeout(r, 100))
  expect(k.logText()).not.toMatch(/unhandled error|internal_error|failed to answer/)
})

describe('deadlines for slow clients (short ones here; see KORTEX_*_TIMEOUT_MS)', () => {
  let slow: Kortex
  beforeAll(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kortex-')), 'kortex.yaml')
    writeFileSync(file, echoConfig('m'))
    slow = await startKortex({ configPath: file, port: 0, notice: () => {}, log: { record: () => {}, warn: () => {}, error: () => {} }, server: { headersTimeoutMs: 500, requestTimeoutMs: 1500, bodyIdleTimeoutMs: 400, maxConnections: 40 } })
  })
  afterAll(() => slow?.close())

  const normal = async () => (await fetch(`${slow.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) })).status

  /** A client that sends `first`, then `drip` every `everyMs` until the server closes; resolves with all it was sent. */
  function slowClient(first: string, drip: string, everyMs: number): Promise<string> {
    return new Promise((resolve) => {
      let got = ''
      const s = connect(slow.port, '127.0.0.1', () => s.write(first))
      const t = setInterval(() => s.writable && s.write(drip), everyMs)
      s.on('data', (d) => (got += d))
      s.on('error', () => {})
      s.on('close', () => (clearInterval(t), resolve(got)))
    })
  }
  const refusal = (out: string) => ({
    status: Number(/^HTTP\/1.1 (\d+)/.exec(out)?.[1]),
    code: (JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4) || '{}') as { error?: { code?: string } }).error?.code,
  })

  it('headers sent slowly are cut with a 408 JSON, while a normal client is served', async () => {
    const cut = slowClient('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n', 'x-a: b\r\n', 100)
    expect(await normal()).toBe(200)
    expect(refusal(await cut)).toEqual({ status: 408, code: 'request_timeout' })
  }, 10_000)

  it('a body that stops arriving is cut with a 408 JSON, while a normal client is served', async () => {
    const cut = slowClient('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n{"model":"m",', '', 1000)
    expect(await normal()).toBe(200)
    expect(refusal(await cut)).toEqual({ status: 408, code: 'request_timeout' })
  }, 10_000)

  it('a body trickled a byte at a time is cut when the whole request is overdue', async () => {
    const cut = slowClient('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n{"model":"m",', ' ', 100)
    expect(await normal()).toBe(200)
    expect(refusal(await cut)).toEqual({ status: 408, code: 'request_timeout' })
  }, 10_000)

  it('connections past the cap are closed at once, and slow ones do not stay open', async () => {
    const held = Array.from({ length: 60 }, () => slowClient('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n', 'x-a: b\r\n', 100))
    const outcomes = await Promise.all(held.map((p) => p.then((out) => (out ? refusal(out).status : 'closed'))))
    expect(outcomes.filter((o) => o === 408).length).toBeLessThanOrEqual(40)
    expect(outcomes.filter((o) => o === 'closed').length).toBeGreaterThanOrEqual(20)
    expect(await normal()).toBe(200)
  }, 15_000)
})

it('the deadlines and the cap come from KORTEX_* variables, and a bad value stops the start with its name', () => {
  expect(serverLimits({}, { KORTEX_REQUEST_TIMEOUT_MS: '120000', KORTEX_MAX_CONNECTIONS: '500' })).toMatchObject({ requestTimeoutMs: 120_000, maxConnections: 500, headersTimeoutMs: 10_000 })
  expect(serverLimits({ requestTimeoutMs: 1000 }, { KORTEX_REQUEST_TIMEOUT_MS: '120000' }).requestTimeoutMs).toBe(1000)
  expect(() => serverLimits({}, { KORTEX_HEADERS_TIMEOUT_MS: '10s' })).toThrow(/KORTEX_HEADERS_TIMEOUT_MS must be a positive whole number/)
})
