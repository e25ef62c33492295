// Clients that go away or take their time: a real Kortex Node server, seen
// from the operator's log and from the other clients it keeps serving.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { connect, type Socket } from 'node:net'
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
