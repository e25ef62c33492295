// npm run chaos: CHAOS_REQUESTS (default 10,000) requests through the Node
// gateway to a failover chain of three OpenAI-wire upstreams. The first two
// are switched, every CHAOS_PHASE requests, between faults — 5xx, 429 with
// Retry-After, connection resets, hangs (timeouts), bodies and streams cut
// mid-way, error events before and after the first content, streams that
// stall or end without [DONE] — each at some rate; the third stays healthy.
// Half the requests stream. Reported: answers by status (non-2xx must be 0),
// attempts per request, and how streams ended. A stream the upstream cut
// after its first content cannot fail over; it must reach the client as an
// error event, and a silent truncation (no [DONE], no error) must never
// happen. Seeded (CHAOS_SEED): the same phases every run.
// Exits 1 when a rule is broken.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { startKortex } from '../adapters/node/start.ts'
import { createUpstreamFetch } from '../adapters/node/upstream-fetch.ts'
import { silentLogger } from '../src/telemetry/log.ts'
import { readJson, startServer, type TestServer } from '../test/helpers/server.ts'
import { chatCompletion } from '../test/upstreams/openai.ts'
import { seeded } from '../test/helpers/seeded.ts'

const TOTAL = Number(process.env.CHAOS_REQUESTS ?? 10_000)
const PHASE = Number(process.env.CHAOS_PHASE ?? 500)
const CONCURRENCY = Number(process.env.CHAOS_CONCURRENCY ?? 32)
/** Requests started per second at most. */
const RATE = Number(process.env.CHAOS_RATE ?? 500)
const SEED = Number(process.env.CHAOS_SEED ?? 20261206)
/** Phases (which fault, how often) come from one generator; whether a request is hit, from another. */
const phaseRand = seeded(SEED)
const rand = seeded(SEED + 1)

/** Shares of requests a phase's fault hits: at 100% the breaker keeps traffic off; at 5% it rarely trips. */
const RATES = [1, 0.5, 0.2, 0.05]
const FAULTS = [
  '500', '503', '429', 'reset', 'hang', 'badjson', // any request
  'cut', 'stall', 'mid-error', 'no-done', 'early-error', 'early-cut', // streams (a plain answer is cut mid-body instead)
] as const
type Fault = (typeof FAULTS)[number]
/** What each faulty upstream does this phase, and to what share of its requests. */
const faults: Array<{ fault: Fault; rate: number }> = [
  { fault: '500', rate: 0 },
  { fault: '500', rate: 0 },
]
/** Faults the upstreams played, by kind. */
const injected: Record<string, number> = {}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const sse = (res: ServerResponse, data: unknown) => res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`)
const chunk = (model: string, delta: object, finish: string | null = null) => ({ id: 'chatcmpl-chaos', object: 'chat.completion.chunk', created: 1764979200, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })
const WORDS = ['Hello', ' from', ' the', ' chain']
const errorJson = (message: string, type: string, code: string | null = null) => JSON.stringify({ error: { message, type, param: null, code } })

/** Upstream `i`: healthy unless its fault applies to this request. */
function upstream(i: number) {
  return async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readJson(req)
    const f = faults[i]
    const fault = f && rand() < f.rate ? f.fault : undefined
    if (fault) injected[fault] = (injected[fault] ?? 0) + 1
    const json = (status: number, text: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(text)
    }
    switch (fault) {
      case '500':
      case '503':
        return json(Number(fault), errorJson('The server had an error while processing your request.', 'server_error'))
      case '429':
        // Sometimes short enough to wait for on the same backend, sometimes not.
        return json(429, errorJson('Rate limit reached for requests', 'requests', 'rate_limit_exceeded'), { 'retry-after': rand() < 0.5 ? '1' : '30' })
      case 'reset':
        return req.socket.destroy()
      case 'hang':
        return // the attempt timeout ends it
      case 'badjson':
        return json(200, '{"id": "chatcmpl-1", "choices": [')
    }
    if (!body.stream) {
      if (fault) {
        // Any stream fault, on a plain answer: the body is cut half way.
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '600' })
        res.write(JSON.stringify(chatCompletion(body.model, WORDS.join(''))).slice(0, 200))
        await sleep(5)
        return req.socket.destroy()
      }
      return json(200, JSON.stringify(chatCompletion(body.model, WORDS.join(''))))
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    sse(res, chunk(body.model, { role: 'assistant', content: '' }))
    if (fault === 'early-error') return res.end(`data: ${errorJson('The server had an error while processing your request.', 'server_error')}\n\n`)
    if (fault === 'early-cut') return setTimeout(() => req.socket.destroy(), 5)
    for (const [n, w] of WORDS.entries()) {
      sse(res, chunk(body.model, { content: w }))
      if (n < 1 || !fault) continue
      // Content is out: from here the gateway can no longer fail over.
      if (fault === 'stall') return
      if (fault === 'mid-error') return res.end(`data: ${errorJson('The model crashed mid-answer', 'server_error', 'model_error')}\n\n`)
      if (fault === 'no-done') return res.end()
      await sleep(5)
      return req.socket.destroy()
    }
    sse(res, chunk(body.model, {}, 'stop'))
    res.end('data: [DONE]\n\n')
  }
}

function config(ups: TestServer[]): string {
  // Short cooldowns: the faulty backends keep being probed, so their faults keep reaching the chain.
  const backends = ups.map(
    (u, i) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: u${i} }
spec:
  type: external
  external: { url: "${u.url}/v1", model: m }
  timeoutSeconds: ${i < 2 ? 0.3 : 10}
  circuitBreaker: { consecutiveFailures: 5, failureRatePercent: 60, windowSeconds: 2, minimumRequests: 20, cooldownSeconds: 0.1, maxCooldownSeconds: 0.4, jitter: partial }
`,
  )
  return `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { open: true }, accessLog: false }
${backends.join('')}---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: chaos }
spec:
  models: [chaos]
  defaultBackend: { name: u0 }
  failover: { chain: [u1, u2], maxRetries: 1, initialBackoffMs: 20, maxBackoffMs: 100, maxRetryAfterSeconds: 2 }
`
}

type StreamEnd = 'complete' | 'error event' | 'broken connection' | 'silent truncation'

interface Tally {
  status: Record<string, number>
  attempts: Record<string, number>
  servedBy: Record<string, number>
  streams: Record<StreamEnd, number>
  cutCodes: Record<string, number>
  /** 200s whose body was not a whole answer (plain JSON). */
  badBodies: number
  examples: string[]
}

/** How a streamed answer ended, read as a client would. */
function streamEnd(text: string): { end: StreamEnd; code?: string } {
  let content = ''
  let finished = false
  for (const block of text.split('\n\n')) {
    const data = block.startsWith('data: ') ? block.slice(6) : undefined
    if (data === undefined) continue
    if (data === '[DONE]') return { end: finished && content === WORDS.join('') ? 'complete' : 'silent truncation' }
    const ev = JSON.parse(data)
    if (ev.error) return { end: 'error event', code: ev.error.code ?? ev.error.type }
    for (const c of ev.choices ?? []) {
      content += c.delta?.content ?? ''
      if (c.finish_reason) finished = true
    }
  }
  return { end: 'silent truncation' }
}

async function one(url: string, fetch: typeof globalThis.fetch, stream: boolean, t: Tally) {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chaos', messages: [{ role: 'user', content: 'hi' }], stream }),
  })
  const add = (r: Record<string, number>, k: string) => (r[k] = (r[k] ?? 0) + 1)
  add(t.status, String(res.status))
  add(t.attempts, res.headers.get('x-kortex-attempts') ?? '?')
  add(t.servedBy, res.headers.get('x-kortex-backend') ?? '-')
  let text: string
  try {
    text = await res.text()
  } catch {
    if (stream) t.streams['broken connection']++
    else t.badBodies++
    return
  }
  if (res.status !== 200) {
    if (t.examples.length < 5) t.examples.push(`${res.status} ${text.slice(0, 200)}`)
    return
  }
  if (!stream) {
    const ok = JSON.parse(text).choices?.[0]?.message?.content === WORDS.join('')
    if (!ok) t.badBodies++
    return
  }
  const { end, code } = streamEnd(text)
  t.streams[end]++
  if (code) add(t.cutCodes, code)
  if (end === 'silent truncation' && t.examples.length < 5) t.examples.push(text.slice(-300))
}

const histogram = (r: Record<string, number>) =>
  Object.entries(r)
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ')

async function main() {
  const ups: TestServer[] = []
  for (let i = 0; i < 3; i++) ups.push(await startServer(upstream(i)))
  const dir = mkdtempSync(join(tmpdir(), 'kortex-chaos-'))
  writeFileSync(join(dir, 'kortex.yaml'), config(ups))
  const k = await startKortex({ configPath: join(dir, 'kortex.yaml'), port: 0, log: silentLogger, notice: () => {} })
  const fetch = createUpstreamFetch() as typeof globalThis.fetch
  const t: Tally = { status: {}, attempts: {}, servedBy: {}, streams: { complete: 0, 'error event': 0, 'broken connection': 0, 'silent truncation': 0 }, cutCodes: {}, badBodies: 0, examples: [] }
  const phases: string[] = []
  const started = performance.now()
  let next = 0
  const worker = async () => {
    while (next < TOTAL) {
      const n = next++
      if (n % PHASE === 0) {
        // Every fault comes round on each backend; the two play different ones at different rates.
        const p = n / PHASE
        faults.forEach((f, i) => {
          f.fault = FAULTS[(p + i * 5) % FAULTS.length]!
          f.rate = RATES[Math.floor(phaseRand() * RATES.length)]!
        })
        phases.push(faults.map((f, i) => `u${i} ${f.fault}@${f.rate * 100}%`).join(' '))
      }
      // A steady rate, so each phase lasts long enough for breakers to open, probe and close.
      const due = started + (n * 1000) / RATE - performance.now()
      if (due > 0) await sleep(due)
      await one(k.url, fetch, n % 2 === 1, t)
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  const seconds = (performance.now() - started) / 1000
  const status = (await (await fetch(`${k.url}/v1/status`)).json()) as { backends: Array<{ name: string; requests: number; failures: number; breaker: { trips: number } }> }
  await k.close()
  for (const u of ups) await u.close()

  const attempts = Object.entries(t.attempts).reduce((s, [a, n]) => s + Number(a) * n, 0)
  const non2xx = Object.entries(t.status).reduce((s, [code, n]) => s + (code.startsWith('2') ? 0 : n), 0)
  console.log(`kortex chaos: ${TOTAL} requests (${TOTAL / 2} streamed), up to ${RATE}/s and ${CONCURRENCY} at a time, ${Math.ceil(TOTAL / PHASE)} phases of ${PHASE}, ${seconds.toFixed(1)} s`)
  console.log(`phases: ${phases.join(' | ')}`)
  console.log(`status: ${histogram(t.status)}  (non-2xx: ${non2xx})`)
  console.log(`attempts per request: ${histogram(t.attempts)}  (mean ${(attempts / TOTAL).toFixed(3)})`)
  console.log(`served by: ${histogram(t.servedBy)}`)
  console.log(`upstreams: ${status.backends.map((b) => `${b.name} ${b.requests} requests, ${b.failures} failures, ${b.breaker.trips} breaker trips`).join('; ')}`)
  console.log(`faults played by u0 and u1: ${histogram(injected)}`)
  console.log(`streams: ${histogram(t.streams)}`)
  console.log(`  cut after first content, as error events: ${histogram(t.cutCodes) || 'none'}`)
  console.log(`plain answers not whole: ${t.badBodies}`)
  for (const e of t.examples) console.log(`example: ${e}`)
  const broken = non2xx > 0 || t.streams['silent truncation'] > 0 || t.badBodies > 0
  console.log(broken ? 'FAILED: a client saw an error or a silently cut answer while a backend was healthy' : 'ok: no non-2xx, no silent truncation')
  process.exitCode = broken ? 1 : 0
}

await main()
