// The Node upstream client keeps fetch's contract: streaming bodies, abort,
// and failures shaped like fetch's.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createUpstreamFetch } from '../../adapters/node/upstream-fetch.ts'
import { readJson, startServer, type TestServer } from '../helpers/server.ts'

const f = createUpstreamFetch()
let srv: TestServer
let release: () => void = () => {}

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
      await new Promise<void>((r) => (release = r)) // the second chunk waits for the client to have seen the first
      res.end('data: two\n\n')
      return
    }
    if (req.url === '/reset') {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('partial')
      setTimeout(() => req.socket.destroy(), 20)
      return
    }
    res.writeHead(204).end()
  })
})
afterAll(() => srv.close())

it('sends method, headers and body; returns status, headers and JSON', async () => {
  const res = await f(`${srv.url}/json`, { method: 'POST', headers: { authorization: 'Bearer x', 'content-type': 'application/json' }, body: '{"a":1}' })
  expect(res.status).toBe(201)
  expect(res.headers.get('content-type')).toBe('application/json')
  expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2'])
  expect(await res.json()).toEqual({ echo: { a: 1 }, method: 'POST', auth: 'Bearer x' })
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

it('abort rejects with the signal reason and ends the body', async () => {
  const ac = new AbortController()
  const res = await f(`${srv.url}/chunks`, { signal: ac.signal })
  const reader = res.body!.getReader()
  await reader.read()
  ac.abort(new Error('client gone'))
  await expect(reader.read()).rejects.toBeTruthy()
  release()
  const pre = new AbortController()
  pre.abort(new Error('already'))
  await expect(f(`${srv.url}/json`, { signal: pre.signal })).rejects.toThrow('already')
})

it('connection refused rejects like fetch: TypeError with the code in cause', async () => {
  const err = await f('http://127.0.0.1:1/x').catch((e) => e)
  expect(err).toBeInstanceOf(TypeError)
  expect(err.cause.code).toBe('ECONNREFUSED')
})

it('a connection reset mid-body errors the body read', async () => {
  const res = await f(`${srv.url}/reset`)
  await expect(res.text()).rejects.toBeTruthy()
})

it('204 has a null body', async () => {
  const res = await f(`${srv.url}/empty`)
  expect(res.status).toBe(204)
  expect(res.body).toBeNull()
})
