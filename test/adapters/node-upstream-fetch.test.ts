// The Node upstream client keeps fetch's contract: streaming bodies, abort,
// and failures shaped like fetch's.
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createUpstreamFetch } from '../../adapters/node/upstream-fetch.ts'
import { fromFetchError } from '../../src/providers/errors.ts'
import { LazyStream, bodyOf, claimBytes } from '../../src/providers/types.ts'
import { readJson, startServer, type TestServer } from '../helpers/server.ts'

const f = createUpstreamFetch()
// Larger than what the client holds unread before it pauses the socket.
const BIG = Array.from({ length: 40_000 }, (_, i) => `line ${i}\n`).join('')
let srv: TestServer
let release: () => void = () => {}
const firstSeen = () => new Promise<void>((r) => (release = r))

beforeAll(async () => {
  srv = await startServer(async (req, res) => {
    if (req.url === '/json') {
      const body = await readJson(req)
      res.writeHead(201, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] })
      return res.end(JSON.stringify({ echo: body, method: req.method, auth: req.headers.authorization }))
    }
    if (req.url === '/chunks') {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: one\n\n')
      await firstSeen() // the second chunk waits for the client to have seen the first
      res.end('data: two\n\n')
      return
    }
    if (req.url === '/reset') {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('partial')
      setTimeout(() => req.socket.destroy(), 20)
      return
    }
    if (req.url === '/gzip') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
      return res.end(gzipSync('{"zipped":true}'))
    }
    if (req.url === '/moved') {
      res.writeHead(307, { location: '/json' })
      return res.end('moved')
    }
    if (req.url === '/see-other') {
      res.writeHead(303, { location: '/method' })
      return res.end()
    }
    if (req.url === '/method') return res.end(req.method)
    if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'text/plain' })
      return res.end(BIG)
    }
    res.writeHead(204).end()
  })
})
afterAll(() => srv.close())

it('sends method, headers and body; returns status, headers and JSON', async () => {
  const res = await f(`${srv.url}/json`, { method: 'POST', headers: { authorization: 'Bearer x', 'content-type': 'application/json' }, body: '{"a":1}' })
  expect(res).toBeInstanceOf(Response)
  expect(res.status).toBe(201)
  expect(res.ok).toBe(true)
  expect(res.headers.get('content-type')).toBe('application/json')
  expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2'])
  expect(await res.json()).toEqual({ echo: { a: 1 }, method: 'POST', auth: 'Bearer x' })
  expect(res.bodyUsed).toBe(true)
  await expect(res.text()).rejects.toThrow(TypeError) // read once, like fetch
})

it('streams: the first chunk arrives while the upstream is still holding the second', async () => {
  const res = await f(`${srv.url}/chunks`)
  const reader = res.body!.getReader()
  const first = new TextDecoder().decode((await reader.read()).value)
  expect(first).toBe('data: one\n\n')
  release()
  let rest = ''
  for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value)
  expect(rest).toBe('data: two\n\n')
})

it('abort mid-body errors the body with the signal reason; a pre-aborted signal rejects', async () => {
  const ac = new AbortController()
  const res = await f(`${srv.url}/chunks`, { signal: ac.signal })
  const reader = res.body!.getReader()
  await reader.read()
  const reason = new Error('client gone')
  ac.abort(reason)
  await expect(reader.read()).rejects.toBe(reason)
  release()
  const pre = new AbortController()
  pre.abort(new Error('already'))
  await expect(f(`${srv.url}/json`, { signal: pre.signal })).rejects.toThrow('already')
})

it('abort while a whole body is being read rejects text()', async () => {
  const ac = new AbortController()
  const res = await f(`${srv.url}/chunks`, { signal: ac.signal })
  const text = res.text()
  setTimeout(() => ac.abort(new Error('timed out')), 10)
  await expect(text).rejects.toThrow('timed out')
  release()
})

it('connection refused rejects like fetch: TypeError with the code in cause', async () => {
  const err = await f('http://127.0.0.1:1/x').catch((e) => e)
  expect(err).toBeInstanceOf(TypeError)
  expect(err.message).toBe('fetch failed')
  expect(err.cause.code).toBe('ECONNREFUSED')
  expect(fromFetchError(err, new AbortController().signal).message).toBe('ECONNREFUSED')
})

it('a connection reset mid-body errors the body read', async () => {
  const res = await f(`${srv.url}/reset`)
  const err = await res.text().catch((e) => e)
  expect(err).toBeInstanceOf(TypeError)
  expect(err.cause.code).toMatch(/^(UND_ERR_SOCKET|ECONNRESET)$/)
})

it('204 has a null body', async () => {
  const res = await f(`${srv.url}/empty`)
  expect(res.status).toBe(204)
  expect(res.body).toBeNull()
  expect(await res.text()).toBe('')
})

it('follows redirects like fetch (307 keeps the method and body, 303 turns to GET), unless told not to', async () => {
  const res = await f(`${srv.url}/moved`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"b":2}' })
  expect(res.redirected).toBe(true)
  expect(res.url).toBe(`${srv.url}/json`)
  expect(await res.json()).toMatchObject({ echo: { b: 2 }, method: 'POST' })
  expect(await (await f(`${srv.url}/see-other`, { method: 'POST', body: 'x' })).text()).toBe('GET')
  const manual = await f(`${srv.url}/moved`, { redirect: 'manual' })
  expect(manual.status).toBe(307)
  expect(manual.headers.get('location')).toBe('/json')
})

it('decodes a gzip body the upstream sent unasked', async () => {
  expect(await (await f(`${srv.url}/gzip`)).json()).toEqual({ zipped: true })
})

it('clone() gives two readable copies', async () => {
  const res = await f(`${srv.url}/json`, { method: 'POST', body: '{"c":3}' })
  const copy = res.clone()
  expect(await copy.json()).toMatchObject({ echo: { c: 3 } })
  expect(await res.json()).toMatchObject({ echo: { c: 3 } })
})

it('a body larger than the client holds unread arrives whole, read late or as a stream', async () => {
  const late = await f(`${srv.url}/big`)
  await new Promise((r) => setTimeout(r, 50)) // the upstream has sent everything; the client paused at its limit
  expect(await late.text()).toBe(BIG)
  const streamed = await f(`${srv.url}/big`)
  const reader = streamed.body!.getReader()
  let text = ''
  const dec = new TextDecoder()
  for (let r = await reader.read(); !r.done; r = await reader.read()) text += dec.decode(r.value, { stream: true })
  expect(text).toBe(BIG)
})

it('a gzip body read as a stream is decoded too', async () => {
  const res = await f(`${srv.url}/gzip`)
  const chunks: Uint8Array[] = []
  const reader = res.body!.getReader()
  for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value)
  expect(JSON.parse(Buffer.concat(chunks).toString())).toEqual({ zipped: true })
})

it('a streamed body handed over lazily: its bytes claimed by callbacks, or read as a Web stream made then', async () => {
  const claimed = await f(`${srv.url}/big`)
  const lazy = bodyOf(claimed)
  expect(lazy).toBeInstanceOf(LazyStream)
  expect(bodyOf(claimed)).toBe(lazy)
  const src = claimBytes(lazy!)!
  const text = await new Promise<string>((resolve, reject) => {
    const parts: Buffer[] = []
    src.read({ data: (c) => (parts.push(Buffer.from(c)), true), end: () => resolve(Buffer.concat(parts).toString()), error: reject })
  })
  expect(text).toBe(BIG)
  expect(claimed.bodyUsed).toBe(true)
  await expect(claimed.text()).rejects.toThrow(TypeError)

  // Handed over, then read whole: through the same body.
  const read = await f(`${srv.url}/big`)
  expect(bodyOf(read)).toBeInstanceOf(LazyStream)
  expect(await read.text()).toBe(BIG)
  expect(bodyOf((await f(`${srv.url}/none`)) as Response)).toBeNull()
})
