// Malformed and hostile requests, as fast-check arbitraries, and what the
// gateway must make of each: never a 5xx for the client's own mistake, never
// a failure counted against a backend, always an answer, and every error an
// OpenAI-shaped JSON body. Shared by test/fuzz/*.test.ts (a few hundred
// runs) and scripts/fuzz.ts (100,000).
import { request as httpRequest, Agent } from 'node:http'
import { connect as netConnect, type Socket } from 'node:net'
import fc from 'fast-check'
import { startOpenAIUpstream, type OpenAIUpstream } from '../upstreams/openai.ts'
import { startAnthropicUpstream, type AnthropicUpstream } from '../upstreams/anthropic.ts'
import { startTestKortex, type TestKortex } from '../helpers/kortex.ts'

export const CLIENT_KEY = 'kx-fuzz-client-0001'
const ADMIN_KEY = 'kx-fuzz-admin-00001'

/** One request as sent on the wire; `kind` names the generator that made it. */
export interface Hostile {
  kind: string
  method: string
  path: string
  headers: Record<string, string>
  body?: string | Uint8Array
}

export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
}

// --- Requests -------------------------------------------------------------

// Chat three ways: forwarded as sent, re-serialised with the backend's own model name, translated to Anthropic's API.
type Op = 'chat' | 'chat-mapped' | 'chat-anthropic' | 'completions' | 'embeddings'
const CHAT = '/v1/chat/completions'
const PATHS: Record<Op, string> = { chat: CHAT, 'chat-mapped': CHAT, 'chat-anthropic': CHAT, completions: '/v1/completions', embeddings: '/v1/embeddings' }
const MODELS: Record<Op, string> = { chat: 'gpt-4o', 'chat-mapped': 'gpt-4o-mini', 'chat-anthropic': 'claude', completions: 'gpt-3.5-turbo-instruct', embeddings: 'text-embedding-3-small' }
const isChat = (o: Op) => o.startsWith('chat')

const validBody = (op: Op): Record<string, unknown> =>
  isChat(op)
    ? { model: MODELS[op], messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], tools: [{ type: 'function', function: { name: 'f', parameters: {} } }], stream_options: { include_usage: true } }
    : op === 'completions'
      ? { model: MODELS.completions, prompt: ['hi'] }
      : { model: MODELS.embeddings, input: ['hi'] }

/** Every field a client might send (and some it might not), nested ones as paths. */
const CHAT_FIELDS: Array<Array<string | number>> = [
    ['model'], ['messages'], ['messages', 0], ['messages', 0, 'role'], ['messages', 0, 'content'], ['messages', 0, 'content', 0], ['messages', 0, 'content', 0, 'type'],
    ['messages', 0, 'content', 0, 'text'], ['messages', 0, 'name'], ['messages', 0, 'tool_calls'], ['tools'], ['tools', 0], ['tools', 0, 'type'], ['tools', 0, 'function'],
    ['tool_choice'], ['response_format'], ['stream'], ['stream_options'], ['stream_options', 'include_usage'], ['max_tokens'], ['max_completion_tokens'],
    ['temperature'], ['top_p'], ['n'], ['stop'], ['user'], ['logit_bias'], ['seed'], ['logprobs'], ['top_logprobs'], ['presence_penalty'], ['frequency_penalty'],
  ['parallel_tool_calls'], ['metadata'], ['store'], ['modalities'], ['reasoning_effort'], ['service_tier'], ['functions'], ['function_call'], ['prediction'],
]
const FIELDS: Record<Op, Array<Array<string | number>>> = {
  chat: CHAT_FIELDS,
  'chat-mapped': CHAT_FIELDS,
  'chat-anthropic': CHAT_FIELDS,
  completions: [['model'], ['prompt'], ['prompt', 0], ['stream'], ['max_tokens'], ['temperature'], ['n'], ['stop'], ['suffix'], ['echo'], ['best_of'], ['logprobs'], ['user']],
  embeddings: [['model'], ['input'], ['input', 0], ['encoding_format'], ['dimensions'], ['user']],
}

/** Values of every JSON type, and the edges of each. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, 2 ** 53, -(2 ** 63), 1e308, '', ' ', '0', 'null', 'true', [], {}, [null], [[]], { type: null }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.jsonValue({ maxDepth: 3 }),
)

function setPath(body: Record<string, unknown>, path: ReadonlyArray<string | number>, value: unknown): Record<string, unknown> {
  const root = structuredClone(body)
  let at: any = root
  for (const key of path.slice(0, -1)) {
    if (at[key] === null || typeof at[key] !== 'object') at[key] = typeof key === 'number' ? [] : {}
    at = at[key]
  }
  at[path[path.length - 1]!] = value
  return root
}

/** Counterexamples fast-check prints as describeRequest's glimpse, not megabytes of body. */
export function described(a: fc.Arbitrary<Hostile>): fc.Arbitrary<Hostile> {
  return a.map((r) => Object.assign(r, { [fc.toStringMethod]: () => describeRequest(r) }))
}
const op = fc.constantFrom<Op>('chat', 'chat-mapped', 'chat-anthropic', 'completions', 'embeddings')
const jsonHeaders = (extra: Record<string, string> = {}) => ({ 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}`, ...extra })
const inference = (kind: string, o: Op, body: string | Uint8Array, headers: Record<string, string> = jsonHeaders()): Hostile => ({ kind, method: 'POST', path: PATHS[o], headers, body })

/** Text that is not quite JSON: cut short, with a character changed or put in, or nothing like it. */
const malformedJson = fc.tuple(op, fc.nat(), fc.string({ minLength: 1, maxLength: 3 }), fc.constantFrom('cut', 'insert', 'replace', 'other')).chain(([o, at, junk, how]) => {
  const text = JSON.stringify(validBody(o))
  const i = at % text.length
  if (how === 'other') {
    return fc
      .oneof(fc.string(), fc.constantFrom('', ' ', 'null', '[]', '42', '"text"', '{', '}', '{"model":}', "{'model': 'gpt-4o'}", '{"model":"gpt-4o",}', '\ufeff{}', 'NaN', '[1,2', '{"a":1}{"b":2}'))
      .map((t) => inference('malformed json', o, t))
  }
  const mutated = how === 'cut' ? text.slice(0, i) : how === 'insert' ? text.slice(0, i) + junk + text.slice(i) : text.slice(0, i) + junk + text.slice(i + 1)
  return fc.constant(inference('malformed json', o, mutated))
})

/** A valid request with one field, anywhere, of the wrong type or out of range. */
const wrongType = op.chain((o) => fc.tuple(fc.constantFrom(...FIELDS[o]), oddValue).map(([path, v]) => inference('wrong type', o, JSON.stringify(setPath(validBody(o), path, v)))))

/** A field holding a huge string, a huge array or many messages (some past the body limit). */
const huge = fc.tuple(op, fc.constantFrom(64 * 1024, 1024 * 1024, 5 * 1024 * 1024), fc.constantFrom('string', 'array', 'messages')).chain(([o, size, shape]) =>
  fc.constantFrom(...FIELDS[o]).map((path) => {
    const value = shape === 'string' ? 'x'.repeat(size) : shape === 'array' ? Array(size / 8).fill(7) : Array(size / 64).fill({ role: 'user', content: 'hi' })
    return inference(`huge ${shape}`, o, JSON.stringify(setPath(validBody(o), shape === 'messages' && isChat(o) ? ['messages'] : path, value)))
  }),
)

/** A value nested `depth` levels deep (arrays or objects) in any field. */
export const nested = (depth: number, open: string, close: string) => `${open.repeat(depth)}${close.repeat(depth)}`
const deep = (depths: number[]) =>
  fc.tuple(op, fc.constantFrom(...depths), fc.constantFrom(['[', ']'], ['{"a":', '}'])).chain(([o, depth, [open, close]]) =>
    fc.constantFrom(...FIELDS[o]).map((path) => {
      const marker = JSON.stringify('\u0000nest\u0000')
      const text = JSON.stringify(setPath(validBody(o), path, '\u0000nest\u0000')).replace(marker, open === '[' ? nested(depth, '[', ']') : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`)
      return inference(`nested ${depth}`, o, text)
    }),
  )
/** What stays within the limits any backend's JSON parser has. */
export const shallowNesting = deep([10, 100, 500])
/** As deep as the issue's report: parsers and serialisers that recurse run out of stack. */
export const deepNesting = described(deep([1_000, 6_000, 50_000]))

/** Strings of any code points, lone surrogates as JSON escapes, and bytes that are not UTF-8. */
const unicodeJunk = fc.tuple(op, fc.constantFrom(...['model', 'content', 'user', 'stop'] as const), fc.string({ unit: 'binary', maxLength: 200 }), fc.constantFrom('string', 'surrogate', 'bytes')).map(([o, where, s, how]) => {
  const path = where === 'content' ? (isChat(o) ? ['messages', 0, 'content'] : o === 'completions' ? ['prompt'] : ['input']) : [where]
  const text = JSON.stringify(setPath(validBody(o), path, `${s}\u0000mark`))
  if (how === 'string') return inference('unicode', o, text.replace('\\u0000mark', ''))
  if (how === 'surrogate') return inference('unicode', o, text.replace('\\u0000mark', '\\ud800\\udfff\\udc00x\\ud83d'))
  const bytes = new TextEncoder().encode(text.replace('\\u0000mark', '\u0001'))
  const bad = Uint8Array.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0xf8, 0x88, 0x80, 0x80, 0x80])
  const at = bytes.indexOf(1)
  return inference('unicode', o, Uint8Array.from([...bytes.subarray(0, at), ...bad, ...bytes.subarray(at + 1)]))
})

/** Header values a client may send (latin-1, no line breaks), short and long. */
const headerValue = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c === 0x7f ? 0x20 : c)), maxLength: 64 }),
  fc.constantFrom('', ' ', 'null', '../../etc/passwd', '*', 'gpt-4o', 'Bearer', 'Bearer ', '-1', '1e999'),
  // Long, but within what Node takes in a request's headers (16 KB together); beyond is rawJunk's.
  fc.nat({ max: 4 * 1024 }).map((n) => 'v'.repeat(n)),
)
const ODD_HEADERS = ['x-route', 'x-request-id', 'x-user-id', 'x-kortex-route', 'traceparent', 'tracestate', 'x-forwarded-for', 'accept', 'accept-encoding', 'content-encoding', 'cookie', 'x-feature', 'x-team', 'openai-organization', 'openai-project', 'x-stainless-retry-count', 'range', 'if-none-match', 'origin']

const oddHeaders = fc.tuple(op, fc.dictionary(fc.constantFrom(...ODD_HEADERS), headerValue, { maxKeys: 4 }), fc.boolean()).map(([o, extra, stream]) =>
  inference('odd headers', o, JSON.stringify({ ...validBody(o), stream }), jsonHeaders(extra)),
)

const contentTypes = fc.tuple(
  op,
  fc.oneof(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/xml', '', '*/*', 'application/json;;;', 'image/png'), headerValue),
  fc.constantFrom('json', 'form', 'none'),
).map(([o, type, body]) =>
  inference('content type', o, body === 'json' ? JSON.stringify(validBody(o)) : body === 'form' ? 'model=gpt-4o&messages=hi' : '', { ...jsonHeaders(), 'content-type': type }),
)

const unknownModels = fc.tuple(op, fc.oneof(fc.string({ minLength: 1 }), fc.string({ unit: 'binary', minLength: 1 }), fc.constantFrom('gpt-4o ', 'GPT-4O', '*', '../gpt-4o', 'gpt-4o\u0000', 'x'.repeat(100_000)))).map(([o, model]) =>
  inference('unknown model', o, JSON.stringify({ ...validBody(o), model })),
)

const badKeys = fc.tuple(
  op,
  fc.oneof(
    fc.constant(undefined),
    fc.constantFrom('', 'Bearer', 'Bearer ', `Basic ${CLIENT_KEY}`, `bearer  ${CLIENT_KEY} `, `Bearer ${CLIENT_KEY}x`, `Bearer ${CLIENT_KEY.slice(0, -1)}`, `Bearer ${'k'.repeat(12 * 1024)}`),
    headerValue.map((v) => `Bearer ${v}`),
  ),
).map(([o, auth]) => {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (auth !== undefined) headers.authorization = auth
  return inference('bad key', o, JSON.stringify(validBody(o)), headers)
})

// Methods Node's parser knows; others never reach the gateway (rawJunk's request lines).
const METHODS = ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'POST', 'PROPFIND', 'MKCOL', 'LOCK', 'PURGE', 'SEARCH', 'REPORT']
const pathSegment = fc.oneof(
  fc.constantFrom('v1', 'v2', 'chat', 'completions', 'embeddings', 'models', 'status', 'experiments', 'spend', 'feedback', 'kserve', 'healthz', '..', '.', '', '%2e%2e', '%00', '%ff', '%', '%zz', 'gpt-4o'),
  fc.string({ unit: 'binary', maxLength: 12 }).map(encodeURIComponent),
)
const oddPaths = fc.tuple(fc.constantFrom(...METHODS), fc.array(pathSegment, { maxLength: 6 }), fc.constantFrom('', '?', '?a=1&a=2', '?namespace=%ff', '#x', `?${'q'.repeat(4096)}`), fc.boolean()).map(([method, segments, tail, withBody]) => ({
  kind: 'odd method or path',
  method,
  path: `/${segments.join('/')}${tail}`,
  headers: jsonHeaders(),
  body: withBody && method !== 'GET' && method !== 'HEAD' ? JSON.stringify(validBody('chat')) : undefined,
}))

/** Known endpoints other than inference, with bodies they do not expect. */
const otherEndpoints = fc.tuple(fc.constantFrom('/v1/feedback', '/v1/models/gpt-4o', '/v1/experiments/none', '/v1/spend?group_by=%ff&from=x', '/kserve/none/v2/models'), fc.oneof(fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), fc.string())).map(([path, body]) => ({
  kind: 'other endpoint',
  method: path === '/v1/feedback' || path.startsWith('/kserve') ? 'POST' : 'GET',
  path,
  headers: jsonHeaders(),
  body: path === '/v1/feedback' || path.startsWith('/kserve') ? body : undefined,
}))

/** An operation the route's backends cannot serve (embeddings on an Anthropic route): the client asked the wrong route. */
export const unservedOperation: fc.Arbitrary<Hostile> = described(
  fc.constantFrom('embeddings', 'completions').map((o) => inference('unserved operation', o as Op, JSON.stringify({ ...validBody(o as Op), model: MODELS['chat-anthropic'] }))),
)

/** Every kind of hostile request but deep nesting and unserved operations (see those). */
export const hostileRequest: fc.Arbitrary<Hostile> = described(fc.oneof(
  { arbitrary: malformedJson, weight: 3 },
  { arbitrary: wrongType, weight: 5 },
  { arbitrary: huge, weight: 1 },
  { arbitrary: shallowNesting, weight: 1 },
  { arbitrary: unicodeJunk, weight: 2 },
  { arbitrary: oddHeaders, weight: 2 },
  { arbitrary: contentTypes, weight: 2 },
  { arbitrary: unknownModels, weight: 2 },
  { arbitrary: badKeys, weight: 2 },
  { arbitrary: oddPaths, weight: 3 },
  { arbitrary: otherEndpoints, weight: 1 },
))

// --- The gateway under test -------------------------------------------------

export interface FuzzTarget {
  kortex: TestKortex
  upstream: OpenAIUpstream
  anthropic: AnthropicUpstream
  send(r: Hostile): Promise<Answer>
  /** Failures counted against backends so far, and breakers not closed. */
  backendFailures(): Promise<{ failures: number; open: string[] }>
  close(): Promise<void>
}

export async function startFuzzTarget(): Promise<FuzzTarget> {
  const upstream = await startOpenAIUpstream()
  const anthropic = await startAnthropicUpstream()
  process.env.FUZZ_ANTHROPIC_KEY = 'test-ant-fuzz-not-a-real-key'
  const kortex = await startTestKortex(`apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec:
  accessLog: false
  auth:
    keys:
      - { name: client, key: ${CLIENT_KEY} }
      - { name: ops, key: ${ADMIN_KEY}, admin: true }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: openai }
spec:
  type: external
  external: { url: "${upstream.base('ok')}" }
  timeoutSeconds: 10
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: openai-mapped }
spec:
  type: external
  external: { url: "${upstream.base('ok')}", model: gpt-4o-mini-2024-07-18 }
  timeoutSeconds: 10
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: anthropic }
spec:
  type: external
  external: { url: "${anthropic.base('ok')}", provider: Anthropic, model: claude-sonnet-4-5, apiKeySecret: { name: fuzz-anthropic, key: key } }
  timeoutSeconds: 10
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: openai }
spec:
  models: [${MODELS.chat}, ${MODELS.completions}, ${MODELS.embeddings}]
  defaultBackend: { name: openai }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: mapped }
spec:
  models: [${MODELS['chat-mapped']}]
  defaultBackend: { name: openai-mapped }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: anthropic }
spec:
  models: [${MODELS['chat-anthropic']}]
  defaultBackend: { name: anthropic }
`)
  const agent = new Agent({ keepAlive: true, maxSockets: 16 })
  const send = (r: Hostile) => sendRequest(kortex.url, r, agent)
  return {
    kortex,
    upstream,
    anthropic,
    send,
    backendFailures: async () => {
      const a = await send({ kind: 'status', method: 'GET', path: '/v1/status', headers: { authorization: `Bearer ${ADMIN_KEY}` } })
      const backends = JSON.parse(a.text).backends as Array<{ name: string; failures: number; breaker: { state: string } }>
      return { failures: backends.reduce((n, b) => n + b.failures, 0), open: backends.filter((b) => b.breaker.state !== 'closed').map((b) => b.name) }
    },
    close: async () => {
      agent.destroy()
      await kortex.close()
      await upstream.close()
      await anthropic.close()
    },
  }
}

/** Requests sent again because a kept-alive connection closed as they were sent (see sendRequest). */
export const keepAliveRetries = { count: 0 }

/**
 * Sends `r` as is (node:http takes methods, paths and header values fetch would refuse); rejects
 * after `timeoutMs`. A request that finds its kept-alive connection closed under it (reset before
 * any answer, on a reused socket: the race every HTTP/1.1 client has) is sent once more, on a new
 * connection, as Node's documentation advises; keepAliveRetries counts those.
 */
export async function sendRequest(base: string, r: Hostile, agent?: Agent, timeoutMs = 15_000): Promise<Answer> {
  try {
    return await sendOnce(base, r, agent, timeoutMs)
  } catch (err) {
    if (!(err instanceof ReusedSocketReset)) throw err
    keepAliveRetries.count++
    return sendOnce(base, r, undefined, timeoutMs)
  }
}

class ReusedSocketReset extends Error {}

const guarded = new WeakSet<Socket>()
function guard(socket: Socket) {
  if (guarded.has(socket)) return
  guarded.add(socket)
  socket.on('error', () => {}) // the request's own 'error' reports it while it is in flight
}

function sendOnce(base: string, r: Hostile, agent: Agent | undefined, timeoutMs: number): Promise<Answer> {
  const url = new URL(base)
  return new Promise((resolve, reject) => {
    // A declared length whatever the method: node:http sends DELETE and OPTIONS bodies unframed otherwise (framing is rawJunk's).
    const headers = r.body === undefined ? r.headers : { ...r.headers, 'content-length': String(Buffer.byteLength(r.body)) }
    let answered = false
    const req = httpRequest({ host: url.hostname, port: url.port, method: r.method, path: r.path, headers, agent }, (res) => {
      answered = true
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        clearTimeout(timer)
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') })
      })
      res.on('error', fail)
    })
    // A server that answers before reading the whole body may close the connection while the body
    // is still going out; node:http then lets the socket's EPIPE go unhandled once the answer is in.
    req.once('socket', guard)
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    function fail(err: Error) {
      clearTimeout(timer)
      req.destroy()
      reject(err)
    }
    req.on('error', (e: NodeJS.ErrnoException) => {
      const message = `${e.code ?? ''} ${e.message} after ${Math.round(performance.now() - sent)} ms`
      fail(!answered && req.reusedSocket && e.code === 'ECONNRESET' ? new ReusedSocketReset(message) : new Error(message))
    })
    const sent = performance.now()
    req.end(r.body)
  })
}

/** What is wrong with the answer to a request the client got wrong (empty: nothing). */
export function violations(r: Hostile, a: Answer): string[] {
  const out: string[] = []
  if (a.status >= 500) out.push(`${a.status} for a client's request`)
  if (a.status < 400 || r.method === 'HEAD') return out
  const type = String(a.headers['content-type'] ?? '')
  if (!type.startsWith('application/json')) out.push(`error with content-type '${type}'`)
  let e: any
  try {
    e = JSON.parse(a.text).error
  } catch {
    out.push(`error body is not JSON: ${a.text.slice(0, 80)}`)
    return out
  }
  const nullableString = (v: unknown) => v === null || typeof v === 'string'
  if (!e || typeof e.message !== 'string' || typeof e.type !== 'string' || !nullableString(e.param) || !nullableString(e.code)) {
    out.push(`error body is not OpenAI-shaped: ${a.text.slice(0, 120)}`)
  }
  return out
}

/** A short description of a request, for reports (bodies cut to a glimpse). */
export function describeRequest(r: Hostile): string {
  const body = r.body === undefined ? '' : typeof r.body === 'string' ? r.body : Buffer.from(r.body).toString('latin1')
  const glimpse = body.length > 160 ? `${body.slice(0, 100)}…(${body.length} chars)…${body.slice(-40)}` : body
  const headers = Object.entries(r.headers).map(([k, v]) => `${k}: ${v.length > 60 ? `${v.slice(0, 40)}…(${v.length})` : v}`)
  return `[${r.kind}] ${r.method} ${r.path.length > 120 ? `${r.path.slice(0, 100)}…` : r.path} {${headers.join('; ')}} ${glimpse}`
}

// --- Below HTTP: what the Node server refuses itself ------------------------------

/** Bytes that are not a proper HTTP/1.1 request: request lines, headers and framing a parser refuses. */
export interface Junk {
  kind: string
  bytes: string
}
const junkGlimpse = (j: Junk) => `[${j.kind}] ${JSON.stringify(j.bytes.length > 200 ? `${j.bytes.slice(0, 120)}…(${j.bytes.length} bytes)` : j.bytes)}`
export const rawJunk: fc.Arbitrary<Junk> = fc.oneof(
  fc.constantFrom('GARBAGE', 'GET', 'FOO / HTTP/1.1', 'post / HTTP/1.1', 'GET / HTTP/9.9', 'GET /\u0000 HTTP/1.1', 'GET  / HTTP/1.1', 'G\u00c9T / HTTP/1.1', '/ HTTP/1.1', 'GET / HTTP/1.1 extra').map((line) => ({ kind: 'request line', bytes: `${line}\r\nhost: x\r\n\r\n` })),
  fc.constantFrom('bad header: y', 'x-a: b\u0000c', ': empty-name', 'x-a\tb: c', 'content-length: -1', 'content-length: abc', 'content-length: 1\r\ncontent-length: 2', 'transfer-encoding: chunked, identity').map((h) => ({
    kind: 'header line',
    bytes: `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n${h}\r\n\r\n`,
  })),
  fc.integer({ min: 17 * 1024, max: 64 * 1024 }).map((n) => ({ kind: 'oversized headers', bytes: `GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(n)}\r\n\r\n` })),
  fc.constantFrom('zz\r\n{}\r\n0\r\n\r\n', '5\r\n{}\r\n0\r\n\r\n', '-1\r\n\r\n').map((chunks) => ({
    kind: 'chunked framing',
    bytes: `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n${chunks}`,
  })),
).map((j) => Object.assign(j, { [fc.toStringMethod]: () => junkGlimpse(j) }))

/** Writes `bytes` on a fresh connection; resolves with what came back before the server closed it (or `waitMs` passed). */
export function sendRaw(base: string, bytes: string, waitMs = 3000): Promise<Answer> {
  const url = new URL(base)
  return new Promise((resolve, reject) => {
    const s = netConnect(Number(url.port), url.hostname, () => s.write(Buffer.from(bytes, 'latin1')))
    const chunks: Buffer[] = []
    const done = () => {
      clearTimeout(timer)
      s.destroy()
      resolve(parseRaw(Buffer.concat(chunks).toString('utf8')))
    }
    const timer = setTimeout(done, waitMs)
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('end', done)
    s.on('close', done)
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? done() : reject(e)))
  })
}

function parseRaw(text: string): Answer {
  const end = text.indexOf('\r\n\r\n')
  const head = (end < 0 ? text : text.slice(0, end)).split('\r\n')
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0)
  const headers: Record<string, string> = {}
  for (const line of head.slice(1)) {
    const i = line.indexOf(':')
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
  }
  let body = end < 0 ? '' : text.slice(end + 4)
  // The first answer only: a server may answer a request and then refuse what followed it on the connection.
  if (headers['content-length'] !== undefined) body = Buffer.from(body).subarray(0, Number(headers['content-length'])).toString('utf8')
  else if (headers['transfer-encoding'] === 'chunked') body = body.replace(/(^|\r\n)[0-9a-f]+\r\n/gi, '').replace(/\r\n$/, '')
  return { status, headers, text: body }
}
