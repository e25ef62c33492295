// The Node server's own layer: the lazy Request it hands the gateway, the
// lite Response it installs, and how it writes, streams, aborts and drains.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import type { Gateway } from '../../src/app.ts'
import { listen, type RunningServer } from '../../adapters/node/server.ts'
import { LiteResponse } from '../../adapters/node/response.ts'

let handler: (req: Request) => Response | Promise<Response> = () => new Response('unset')
const gateway: Pick<Gateway, 'fetch'> = { fetch: async (req) => handler(req) }
let srv: RunningServer

beforeAll(async () => {
  srv = await listen(gateway, 0, '127.0.0.1')
})
afterAll(() => srv.close())

/** One raw HTTP/1.1 exchange on a fresh socket; resolves with everything the server sent. */
function raw(text: string, wait = 300): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(srv.port, '127.0.0.1', () => s.write(text))
    let out = ''
    s.on('data', (d) => (out += d))
    s.on('error', reject)
    setTimeout(() => (s.destroy(), resolve(out)), wait)
  })
}

it('hands the gateway a Request: method, URL, headers as Headers.get reads them, body as text', async () => {
  let seen: Record<string, unknown> = {}
  handler = async (req) => {
    seen = {
      isRequest: req instanceof Request,
      method: req.method,
      url: req.url,
      accept: req.headers.get('Accept'),
      missing: req.headers.get('x-missing'),
      has: req.headers.has('x-one'),
      all: Object.fromEntries(req.headers),
      body: await req.text(),
      bodyUsed: req.bodyUsed,
      signal: req.signal instanceof AbortSignal && !req.signal.aborted,
    }
    return new Response('ok')
  }
  const res = await fetch(`${srv.url}/v1/x?q=1`, { method: 'POST', headers: { 'x-one': '1', accept: 'a/b' }, body: '\ufeff{"a":1}' })
  expect(await res.text()).toBe('ok')
  expect(seen).toMatchObject({ isRequest: true, method: 'POST', url: `${srv.url}/v1/x?q=1`, accept: 'a/b', missing: null, has: true, body: '{"a":1}', bodyUsed: true, signal: true })
  expect((seen.all as Record<string, string>)['x-one']).toBe('1')
})

it('joins a repeated header with ", " as Headers does, and reading the body twice fails', async () => {
  let got: unknown[] = []
  handler = async (req) => {
    const first = await req.text()
    got = [req.headers.get('x-dup'), first, await req.text().catch((e) => e instanceof TypeError)]
    return new Response(null, { status: 204 })
  }
  const out = await raw(`POST /a HTTP/1.1\r\nhost: x\r\nx-dup: a\r\nx-dup: b\r\ncontent-length: 2\r\n\r\nhi`)
  expect(out).toMatch(/^HTTP\/1.1 204/)
  expect(got).toEqual(['a, b', 'hi', true])
})

it('a body arriving in chunks (no length) reads through the Web stream too', async () => {
  let text = ''
  handler = async (req) => {
    const reader = req.body!.getReader()
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += new TextDecoder().decode(r.value)
    return new Response('done')
  }
  const out = await raw(`POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n`)
  expect(out).toContain('done')
  expect(text).toBe('abcde')
})

it('members the lazy Request does not keep come from a spec Request', async () => {
  let info: unknown[] = []
  handler = async (req) => {
    info = [req.redirect, req.mode, await req.clone().text()]
    return new Response('x')
  }
  await fetch(`${srv.url}/c`, { method: 'POST', body: 'cloned' })
  expect(info).toEqual(['follow', 'cors', 'cloned'])
})

it('writes string, bytes and empty bodies with a length, and a string without a type as text/plain', async () => {
  handler = (req) => {
    const p = new URL(req.url).pathname
    if (p === '/s') return new Response('héllo', { status: 201, headers: { 'x-a': 'b' } })
    if (p === '/b') return new Response(new Uint8Array([1, 2, 3]), { headers: { 'content-type': 'application/octet-stream' } })
    return new Response(null, { status: 404 })
  }
  const s = await fetch(`${srv.url}/s`)
  expect(s.status).toBe(201)
  expect(s.headers.get('content-type')).toBe('text/plain;charset=UTF-8')
  expect(s.headers.get('content-length')).toBe('6')
  expect(s.headers.get('x-a')).toBe('b')
  expect(await s.text()).toBe('héllo')
  const b = await fetch(`${srv.url}/b`)
  expect(new Uint8Array(await b.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]))
  const n = await fetch(`${srv.url}/n`)
  expect(n.status).toBe(404)
  expect(n.headers.get('content-length')).toBe('0')
})

it('headers changed after the Response was built (as middleware does) are the ones written', async () => {
  handler = () => {
    const r = new Response('{}', { headers: { 'Content-Type': 'application/json' } })
    r.headers.set('x-request-id', 'abc')
    r.headers.append('set-cookie', 'a=1')
    r.headers.append('set-cookie', 'b=2')
    return r
  }
  const res = await fetch(`${srv.url}/h`)
  expect(res.headers.get('x-request-id')).toBe('abc')
  expect(res.headers.get('content-type')).toBe('application/json')
  expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2'])
})

it('streams each chunk as it is produced, without waiting for the end', async () => {
  let push!: (s: string) => void
  let end!: () => void
  handler = () =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(c) {
          push = (s) => c.enqueue(new TextEncoder().encode(s))
          end = () => c.close()
        },
      }),
      { headers: { 'content-type': 'text/event-stream' } },
    )
  const res = await fetch(`${srv.url}/stream`)
  const reader = res.body!.getReader()
  push('data: one\n\n')
  expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: one\n\n')
  push('data: two\n\n')
  expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: two\n\n')
  end()
  expect((await reader.read()).done).toBe(true)
})

it('a client that goes away aborts the request signal and cancels the response stream', async () => {
  let signal!: AbortSignal
  let cancelled = false
  handler = (req) => {
    signal = req.signal
    return new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode('first'))
        },
        cancel() {
          cancelled = true
        },
      }),
    )
  }
  const ac = new AbortController()
  const res = await fetch(`${srv.url}/gone`, { signal: ac.signal })
  await res.body!.getReader().read()
  ac.abort()
  await new Promise((r) => setTimeout(r, 200))
  expect(signal.aborted).toBe(true)
  expect(cancelled).toBe(true)
})

it('a client that goes away mid-body fails the body read, and the server keeps serving', async () => {
  let failure: unknown
  const seen = new Promise<void>((resolve) => {
    handler = async (req) => {
      try {
        await req.text()
      } catch (err) {
        failure = err
      }
      resolve()
      return new Response('late')
    }
  })
  const s = connect(srv.port, '127.0.0.1', () => s.write('POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\npartial'))
  setTimeout(() => s.destroy(), 50)
  await seen
  expect(failure).toBeInstanceOf(Error)
  handler = () => new Response('still here')
  expect(await (await fetch(`${srv.url}/after`)).text()).toBe('still here')
})

it('a body left unread is drained, so the connection serves the next request', async () => {
  handler = () => new Response('no thanks', { status: 401 })
  const body = 'x'.repeat(100_000)
  const out = await raw(`POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n${body}GET /b HTTP/1.1\r\nhost: x\r\n\r\n`, 500)
  expect(out.match(/HTTP\/1.1 401/g)).toHaveLength(2)
})

it('a request no URL can be built from is a 400; HEAD gets the head only', async () => {
  expect(await raw(`GET /a HTTP/1.1\r\nhost: a b\r\n\r\n`)).toMatch(/^HTTP\/1.1 400/)
  handler = () => new Response('body')
  const head = await new Promise<{ status: number; len: string | undefined; body: string }>((resolve) => {
    httpRequest(`${srv.url}/h`, { method: 'HEAD' }, (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode!, len: res.headers['content-length'], body }))
    }).end()
  })
  expect(head).toEqual({ status: 200, len: undefined, body: '' })
})

/** Status, content type and parsed body of one raw response. */
function parsed(out: string): { status: number; type: string | undefined; body: { error?: { message?: string; type?: string; code?: string; param?: unknown } } } {
  const [head, body = ''] = out.split('\r\n\r\n')
  const status = Number(/^HTTP\/1.1 (\d+)/.exec(head!)?.[1])
  const type = /\r\ncontent-type: ([^\r]+)/i.exec(head!)?.[1]
  let json = {}
  try {
    json = JSON.parse(body)
  } catch {}
  return { status, type, body: json }
}

it('the server\'s own refusals are OpenAI-shaped JSON: malformed request line, bad Host, oversized headers', async () => {
  handler = () => new Response('never')
  const cases: Array<[string, number, string]> = [
    ['NOT A REQUEST LINE\r\n\r\n', 400, 'malformed_request'],
    ['GET /a HTTP/1.1\r\nhost: x\r\nbad header line\r\n\r\n', 400, 'malformed_request'],
    ['GET /a HTTP/1.1\r\nhost: a b\r\n\r\n', 400, 'malformed_request'],
    ['GET /a HTTP/1.1\r\n\r\n', 400, 'malformed_request'],
    ['GET /a HTTP/1.1\r\nhost: u@h/x\r\n\r\n', 400, 'malformed_request'],
    [`GET /a HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'request_header_fields_too_large'],
  ]
  for (const [text, status, code] of cases) {
    const r = parsed(await raw(text))
    expect({ status: r.status, type: r.type }).toEqual({ status, type: 'application/json' })
    expect(r.body.error).toMatchObject({ type: 'invalid_request_error', code, param: null, message: expect.any(String) })
  }
  handler = () => new Response('still here')
  expect(await (await fetch(`${srv.url}/after`)).text()).toBe('still here')
})

it('a gateway that throws gets a 500, and the server keeps serving', async () => {
  handler = () => {
    throw new Error('boom')
  }
  const errors: unknown[] = []
  const orig = console.error
  console.error = (...a: unknown[]) => errors.push(a)
  try {
    const res = await fetch(`${srv.url}/x`)
    expect(res.status).toBe(500)
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('api_error')
  } finally {
    console.error = orig
  }
  expect(errors).toHaveLength(1)
  handler = () => new Response('fine')
  expect(await (await fetch(`${srv.url}/x`)).text()).toBe('fine')
})

it('the lite Response behaves as a Response', async () => {
  expect(globalThis.Response).toBe(LiteResponse)
  const r = new Response('{"a":1}', { status: 202, headers: { 'x-b': ' c ' } })
  expect(r).toBeInstanceOf(Response)
  expect([r.status, r.ok, r.statusText, r.headers.get('x-b'), r.headers.get('content-type')]).toEqual([202, true, '', 'c', 'text/plain;charset=UTF-8'])
  expect([...r.headers.keys()]).toEqual(['content-type', 'x-b'])
  expect(await r.clone().json()).toEqual({ a: 1 })
  expect(await r.text()).toBe('{"a":1}')
  expect(r.bodyUsed).toBe(true)
  expect(() => new Response('x', { status: 204 })).toThrow(TypeError)
  expect(() => new Response(null, { status: 99 })).toThrow(RangeError)
  expect(() => new Response(null, { headers: { 'bad name': 'x' } }).headers).toThrow(TypeError)
  const spec = new (Object.getPrototypeOf(LiteResponse) as typeof Response)('x')
  expect(spec).toBeInstanceOf(Response)
  expect(await new Response(new Blob(['blob'])).text()).toBe('blob')
})

it('an answer given before the body was read closes the connection, so a keep-alive client never reuses a socket that is about to go', async () => {
  handler = () => new Response(JSON.stringify({ error: { message: 'too large', type: 'invalid_request_error', param: null, code: 'request_too_large' } }), { status: 413 })
  const early = await raw('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n{"model":')
  expect(early).toMatch(/^HTTP\/1\.1 413/)
  expect(early).toMatch(/\r\nConnection: close\r\n/i)
  // A request read whole keeps its connection.
  handler = async (req) => new Response(await req.text())
  const whole = await raw('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi')
  expect(whole).toMatch(/\r\nConnection: keep-alive\r\n/i)
})
