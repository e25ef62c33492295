// A fleet of fake OpenAI-wire upstreams behind an injected fetch, and a
// clock whose sleeps return at once (recording what was waited), so
// failover, retry and breaker tests run without a network or real waits.
// Backend `x` lives at http://x.test/v1.
import { createGateway, type GatewayDeps, type RunningGateway } from '../../src/app.ts'
import { buildConfig } from '../../src/config/source.ts'
import type { CompiledConfig } from '../../src/config/compile.ts'
import { silentLogger } from '../../src/telemetry/log.ts'
import { chatCompletion } from '../upstreams/openai.ts'

export type Behaviour =
  | 'ok'
  | 'hang'
  | 'reset'
  | 'html'
  | { status: number; retryAfter?: string; code?: string; message?: string }

export interface FakeFleet {
  /** What each backend does next; a function gets the call count. */
  set(name: string, b: Behaviour | ((n: number) => Behaviour)): void
  calls: Record<string, number>
  /** Backend names in the order they were called. */
  log: string[]
  fetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response>
}

export function fakeFleet(): FakeFleet {
  const behaviours = new Map<string, (n: number) => Behaviour>()
  const calls: Record<string, number> = {}
  const log: string[] = []
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)
    const name = url.hostname.replace(/\.test$/, '')
    const n = (calls[name] = (calls[name] ?? 0) + 1)
    log.push(name)
    const b = behaviours.get(name)?.(n) ?? 'ok'
    const signal = init?.signal
    if (b === 'hang') {
      return new Promise((_, reject) => {
        if (signal?.aborted) return reject(signal.reason)
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true })
      })
    }
    if (b === 'reset') throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) })
    if (b === 'html') return new Response('<html>502 Bad Gateway</html>', { status: 200, headers: { 'content-type': 'text/html' } })
    if (b === 'ok') {
      const body = JSON.parse(String(init?.body ?? '{}'))
      return Response.json(chatCompletion(body.model ?? 'm', `from ${name}`))
    }
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (b.retryAfter) headers['retry-after'] = b.retryAfter
    return new Response(JSON.stringify({ error: { message: b.message ?? `upstream says ${b.status}`, type: b.status === 429 ? 'requests' : 'server_error', param: null, code: b.code ?? null } }), { status: b.status, headers })
  }
  return {
    set: (name, b) => behaviours.set(name, typeof b === 'function' ? b : () => b),
    calls,
    log,
    fetch,
  }
}

export interface FakeClock {
  now(): number
  random(): number
  sleep(ms: number, signal: AbortSignal): Promise<void>
  advance(ms: number): void
  /** Every sleep asked for, in ms. */
  sleeps: number[]
}

export function fakeClock(start = 1_700_000_000_000, random: () => number = () => 0.5): FakeClock {
  let t = start
  const sleeps: number[] = []
  return {
    now: () => t,
    random,
    sleep: async (ms) => {
      sleeps.push(ms)
      t += ms
    },
    advance: (ms) => void (t += ms),
    sleeps,
  }
}

/** YAML for demo-free external backends named `names` at http://<name>.test/v1. */
export function backendsYaml(names: string[], extra: Record<string, string> = {}): string {
  return names
    .map(
      (n) => `apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: ${n} }
spec:
  type: external
  external: { url: "http://${n}.test/v1", model: ${n}-model }
${extra[n] ?? ''}`,
    )
    .join('---\n')
}

/** An InferenceRoute named `r` (in its own document) with `spec` as indented YAML lines. */
export const routeYaml = (spec: string) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r }
spec:
${spec}`

/** A closed gateway with these API key entries (flow-style YAML lines). */
export const keyedGateway = (keys: string[]) => `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec:
  accessLog: false
  auth:
    keys:
${keys.map((k) => `      - ${k}`).join('\n')}
`

export const openGateway = `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { open: true }, accessLog: false }
`

export interface TestGateway extends RunningGateway {
  config: CompiledConfig
  chat(headers?: Record<string, string>, body?: Record<string, unknown>): Promise<Response>
  /** A request to any path, through the same waitUntil. */
  call(path: string, init?: RequestInit): Promise<Response>
  /** Waits for the work the gateway left for after its responses (records, aggregates). */
  settle(): Promise<void>
}

export async function testGateway(yaml: string, fleet: FakeFleet, clock: FakeClock = fakeClock(), deps: Partial<GatewayDeps> = {}): Promise<TestGateway> {
  const config = await buildConfig(yaml, () => undefined)
  // Spend and experiment aggregates are written at once (no 1 s window): settle() then sees them in the store.
  const gw = createGateway({ config: () => config, fetch: fleet.fetch, log: silentLogger, clock, aggregatesFlushMs: 0, ...deps })
  const pending: Promise<unknown>[] = []
  const ctx = { waitUntil: (p: Promise<unknown>) => void pending.push(p) }
  const call = (path: string, init?: RequestInit) => gw.fetch(new Request(`http://kortex.test${path}`, init), ctx)
  return Object.assign(gw, {
    config,
    call,
    chat: (headers: Record<string, string> = {}, body: Record<string, unknown> = {}) =>
      call('/v1/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...body }),
      }),
    settle: async () => {
      while (pending.length) await Promise.all(pending.splice(0))
    },
  })
}
