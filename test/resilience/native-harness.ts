// What the native-send tests share: a small upstream that records every
// request byte for byte and answers as each test scripts it (whole bodies or
// SSE written event by event), a config with backends at it, and attempt()
// called as the pipeline calls it.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { buildConfig } from '../../src/config/source.ts'
import type { CompiledConfig } from '../../src/config/compile.ts'
import { attempt, systemClock, type Answer } from '../../src/resilience/attempts.ts'
import { Fleet } from '../../src/resilience/fleet.ts'
import { Scrubber } from '../../src/telemetry/scrub.ts'
import type { NativeRequest } from '../../src/providers/types.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { webStream, type StreamBody } from '../../src/providers/types.ts'

export const KEY = 'test-ours-0123456789abcdef'
export const CLIENT_KEY = 'test-ant-client-key-should-never-travel'

export interface Received {
  backend: string
  path: string
  headers: IncomingMessage['headers']
  text: string
}

/** A scripted answer: a status and a JSON body, or an event stream (each string one write; `hang` keeps it open). */
export type Script =
  | { status: number; json: unknown; headers?: Record<string, string> }
  | { events: string[]; hang?: boolean }

export interface Upstream extends TestServer {
  received: Received[]
  /** What each backend (first path segment) answers. */
  script: Record<string, Script>
  /** Resolves when the connection of the request to `backend` closes. */
  closed(backend: string): Promise<void>
}

export async function startUpstream(): Promise<Upstream> {
  const received: Received[] = []
  const script: Record<string, Script> = {}
  const closes = new Map<string, () => void>()
  const closedP = new Map<string, Promise<void>>()
  const closed = (b: string) => {
    if (!closedP.has(b)) closedP.set(b, new Promise((r) => closes.set(b, r)))
    return closedP.get(b)!
  }
  const server = await startServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const backend = req.url!.split('/')[1]!
    received.push({ backend, path: req.url!.slice(backend.length + 1), headers: req.headers, text: Buffer.concat(chunks).toString('utf8') })
    closed(backend)
    res.on('close', () => closes.get(backend)?.())
    const s = script[backend] ?? { status: 500, json: { error: { message: `no script for ${backend}` } } }
    if ('json' in s) {
      res.writeHead(s.status, { 'content-type': 'application/json', ...s.headers })
      return res.end(JSON.stringify(s.json))
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    for (const e of s.events) {
      res.write(e)
      await new Promise((r) => setImmediate(r))
    }
    if (!s.hang) res.end()
  })
  return { ...server, received, script, closed }
}

/** An SSE event as Anthropic and OpenAI's Responses API write them: an event line named for the data's type. */
export const sse = (data: { type: string } & Record<string, unknown>) => `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`

/** A config whose backends `a` and `b` (in this order, failover on) are the given YAML `external` sections. */
export async function configWith(a: string, b: string, routeExtra = ''): Promise<CompiledConfig> {
  const backend = (name: string, external: string) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: ${name} }
spec:
  type: external
  external: ${external}
`
  const yaml = `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { open: true }, accessLog: false }
${backend('a', a)}${backend('b', b)}---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r }
spec:
  defaultBackend: { name: a }
  failover: { chain: [b] }
${routeExtra}`
  return buildConfig(yaml, (n) => (n === 'UP_KEY' ? KEY : undefined))
}

export interface Run {
  native?: Omit<NativeRequest, 'headers'> & { headers?: Record<string, string> }
  /** The internal form, for a backend that does not speak the client's protocol. */
  body?: Record<string, unknown>
  stream?: boolean
  signal?: AbortSignal
}

/** attempt() over the route's backends, a then b, as the pipeline calls it. */
export function run(config: CompiledConfig, r: Run): Promise<Answer> {
  const route = config.routes[0]!
  const plan = ['a', 'b'].map((n) => config.backends.get(`default/${n}`)!)
  return attempt(plan, [], {
    op: 'chat',
    body: r.body ?? { model: 'client-model', messages: [{ role: 'user', content: 'hi' }] },
    stream: r.stream ?? false,
    clientWantsUsage: false,
    signal: r.signal ?? new AbortController().signal,
    fetch: (input, init) => fetch(input, init),
    requestId: 'req-1',
    policy: route.failover,
    fleet: new Fleet(),
    clock: systemClock,
    startedAt: Date.now(),
    scrub: new Scrubber(() => [KEY]),
    native: r.native && { ...r.native, headers: new Headers(r.native.headers) },
    forwardHeaders: route.forwardHeaders,
  })
}

export const text = (s: StreamBody) => new Response(webStream(s)).text()
