// The openai provider asks for usage on a stream the client did not ask it
// for, and the rest of the client's request goes upstream as the client
// wrote it: its own spacing, key order and escapes.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { parseConfigText } from '../../src/config/load.ts'
import { compileConfig, type Backend } from '../../src/config/compile.ts'
import { openai } from '../../src/providers/openai/index.ts'
import { webStream } from '../../src/providers/types.ts'
import { readText, startServer, type TestServer } from '../helpers/server.ts'

let srv: TestServer
const received: string[] = []
let b: Backend

beforeAll(async () => {
  srv = await startServer(async (req, res) => {
    received.push(await readText(req))
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.end('data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')
  })
  const c = await compileConfig(
    parseConfigText(`apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: o }
spec: { type: external, external: { provider: openai, url: "${srv.url}/v1" } }
`),
    () => undefined,
  )
  b = c.backends.get('default/o')!
})
afterAll(() => srv.close())

async function sendRaw(raw: string): Promise<string> {
  const body = JSON.parse(raw) as Record<string, unknown>
  const r = await openai.send({ backend: b, op: 'chat', body, raw, stream: true, signal: new AbortController().signal, fetch, requestId: 'r1' })
  if (r.kind === 'stream') await new Response(webStream(r.body)).text()
  return received.at(-1)!
}

it("adds stream_options.include_usage to the client's own text, nothing else changed", async () => {
  const raw = '{ "stream":true,  "model": "gpt-4o",\n "messages": [{"role":"user","content":"caf\\u00e9 \\/ ok"}] }\n'
  const sent = await sendRaw(raw)
  expect(sent).toBe('{ "stream":true,  "model": "gpt-4o",\n "messages": [{"role":"user","content":"caf\\u00e9 \\/ ok"}] ,"stream_options":{"include_usage":true}}')
  expect(JSON.parse(sent)).toEqual({ ...JSON.parse(raw), stream_options: { include_usage: true } })
})

it("a client's own stream_options (with or without include_usage) is written out whole, include_usage kept or added once", async () => {
  const given = JSON.parse(await sendRaw('{"stream":true,"model":"m","messages":[],"stream_options":{"include_usage":false}}'))
  expect(given.stream_options).toEqual({ include_usage: false })
  const added = await sendRaw('{"stream":true,"model":"m","messages":[],"stream_options":{}}')
  expect(added.match(/stream_options/g)).toHaveLength(1)
  expect(JSON.parse(added).stream_options).toEqual({ include_usage: true })
})
