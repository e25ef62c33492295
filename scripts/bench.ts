// npm run bench: a local upstream, the Kortex Node gateway and a raw undici
// proxy (the reference) in one run. Load generator and upstream share CPU 0;
// each proxy in turn gets CPU 1. For each: req/s, p50/p99, the proxy's CPU
// time per request and its peak RSS; then time-to-first-content on a stream
// with and without the gateway. Everything runs on 127.0.0.1 and stops itself.
// Each figure is taken over the last BENCH_SECONDS of one load, after
// BENCH_WARMUP_SECONDS on the same connections (see measure()).
// Comparisons are made within rounds (BENCH_ROUNDS, default 5) and the median
// reported: on these VMs one target's figure drifts ±20% from minute to minute.
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
// @ts-expect-error autocannon ships no types
import autocannon from 'autocannon'
import { buildConfig } from '../src/config/source.ts'
import { resolveRoute } from '../src/routing/resolve.ts'
import { BENCH_BODY, benchConfig, measureWindow, hasTaskset, peakRssMb, pin, pinSelf, start, startFlags } from './bench-children.ts'

const DURATION = Number(process.env.BENCH_SECONDS ?? 6)
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 2)
// The gateway runs with the Node flags `npm start` uses, read from package.json (the README's
// Benchmark section says what each is for).
const GATEWAY_FLAGS = startFlags()
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5))
pinSelf()

const body = BENCH_BODY

let sent = 0
function load(url: string, seconds: number, model?: string) {
  const b = model ? body.replace('"bench-model"', JSON.stringify(model)) : body
  // Each request's user message differs (a number in it), as real ones do: a
  // tokenizer's per-text cache then only helps with the repeated system prompt.
  const [head, tail] = b.split('Summarise')
  const requests = [{ setupRequest: (req: { body?: string }) => ({ ...req, body: `${head}Request ${++sent}. Summarise${tail}` }) }]
  // A user id per connection, as an experiment's subjects would come.
  return autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json', 'x-user-id': `u${Math.floor(Math.random() * 1000)}` }, body: b, requests, connections: CONNECTIONS, duration: seconds })
}

interface Row {
  name: string
  rps: number
  p50: number
  p99: number
  cpuUs: number
  rssMb: number
  errors: number
}

// Latencies of the measured window (ms); one buffer for every run.
const latencies = new Float64Array(1 << 21)

/**
 * One load of WARMUP + DURATION seconds; only the last DURATION count. The
 * warm-up runs on the connections the measurement then uses: a fresh load
 * opens fresh connections, and their first requests send V8 back to
 * deoptimising and recompiling the server's hot paths (~0.4 s of CPU for
 * the gateway, on the core it is measured on), which is a reconnection's
 * one-off cost, not the proxy's steady cost per request.
 */
async function measure(name: string, url: string, pid: number, model?: string): Promise<Row> {
  const run = load(url, WARMUP + DURATION, model)
  let counting = false
  let n = 0
  let errors = 0
  run.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (!counting) return
    if (n < latencies.length) latencies[n] = ms
    n++
    if (status < 200 || status > 299) errors++
  })
  run.on('reqError', () => {
    if (counting) errors++
  })
  const { cpu, seconds } = await measureWindow(pid, WARMUP, DURATION, (on) => (counting = on))
  await run
  const sorted = latencies.subarray(0, Math.min(n, latencies.length)).sort()
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10
  return { name, rps: n / seconds, p50: at(0.5), p99: at(0.99), cpuUs: (cpu / n) * 1e6, rssMb: peakRssMb(pid), errors }
}

/**
 * Time to the first content chunk, the median of 5 streams after one more:
 * the first stream through a process runs code no request has run yet, and
 * takes 10-25 ms longer for that alone. Buffering would show in every one.
 */
async function timeToFirstContent(url: string): Promise<{ first: number; total: number }> {
  await streamOnce(url)
  const runs: Array<{ first: number; total: number }> = []
  for (let i = 0; i < 5; i++) runs.push(await streamOnce(url))
  return runs.sort((a, b) => a.first - b.first)[2]!
}

async function streamOnce(url: string): Promise<{ first: number; total: number }> {
  const t0 = performance.now()
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'bench-model', stream: true, messages: [{ role: 'user', content: 'x' }] }) })
  const reader = res.body!.getReader()
  const dec = new TextDecoder()
  let first = 0
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    if (!first && dec.decode(r.value).includes('part0')) first = performance.now() - t0
  }
  return { first, total: performance.now() - t0 }
}

async function main() {
  console.log(`Kortex bench: ${DURATION}s per target, ${ROUNDS} rounds of raw then kortex, ${CONNECTIONS} connections, ~${body.length} B chat request${hasTaskset ? ', load+upstream on CPU 0, proxy on CPU 1' : ' (taskset missing: no pinning)'}`)
  const tsx = ['node', '--import', 'tsx']
  const upstream = await start(pin(0, [...tsx, 'scripts/bench-upstream.ts', '0']))
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`

  const dir = mkdtempSync(join(tmpdir(), 'kortex-bench-'))
  const config = join(dir, 'bench.yaml')
  writeFileSync(
    config,
    `${benchConfig(upstreamUrl)}---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: upstream-b }
spec: { type: external, external: { url: "${upstreamUrl}/v1", provider: openai } }
---
# Traffic management: a header rule, an 80/20 split and an A/B experiment on every request.
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: managed }
spec:
  models: [bench-managed]
  rules:
    - match: { headers: { x-tier: { prefix: premium } }, modelPrefix: bench }
      backends: [{ name: upstream-b }]
    - backends: [{ name: upstream, weight: 80 }, { name: upstream-b, weight: 20 }]
  defaultBackend: { name: upstream }
  experiments: [{ name: bench-ab, control: upstream, treatment: upstream-b, trafficPercent: 50 }]
---
# Limits and cost: request and token limits (never reached) on every request, priced backends.
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: limited }
spec:
  models: [bench-limited]
  defaultBackend: { name: priced }
  rateLimit: { requestsPerMinute: 100000000, tokensPerMinute: 2000000000 }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: priced }
spec:
  type: external
  external: { url: "${upstreamUrl}/v1", provider: openai }
  cost: { inputTokenCost: "0.0025", outputTokenCost: "0.01" }
`,
  )
  // Each row must measure the route it names: a rule elsewhere that also serves the model would take it.
  // Checked on the compiled config here, so the gateway under test has served nothing but the plain route
  // when its peak RSS is read.
  const compiled = await buildConfig(readFileSync(config, 'utf8'), () => undefined)
  for (const [model, route] of [['bench-model', 'bench'], ['bench-managed', 'managed'], ['bench-limited', 'limited']]) {
    const got = resolveRoute(compiled, model!, new Headers()).name
    if (got !== route) throw new Error(`bench config: ${model} goes to route ${got}, not ${route}`)
  }
  // The same, with limits and spend in Redis.
  const redisConfig = join(dir, 'bench-redis.yaml')
  writeFileSync(redisConfig, readFileSync(config, 'utf8').replace('spec: { auth: { open: true }, accessLog: false }', 'spec: { auth: { open: true }, accessLog: false, state: { store: redis, prefix: "kortex-bench:" } }'))

  // Both proxies run throughout, on CPU 1, and are loaded in turn: raw, kortex,
  // raw, kortex... This VM's speed drifts by ±20% over a minute, so the ratio is
  // taken within each round and the median of the rounds is the figure.
  const raw = await start(pin(1, [...tsx, 'scripts/bench-raw-proxy.ts', '0', upstreamUrl]))
  const rawPid = raw.child.pid!
  const rawUrl = `http://127.0.0.1:${raw.port}/v1/chat/completions`
  // Started as `npm start` starts it.
  const gw = await start(pin(1, ['node', ...GATEWAY_FLAGS, 'bin/kortex.js', '--config', config, '--port', '0']))
  const gwPid = gw.child.pid!
  const gwUrl = `http://127.0.0.1:${gw.port}/v1/chat/completions`
  await load(gwUrl, 2) // the JIT's warm-up, on the plain route only (RSS below is the plain route's)

  const rows: Row[] = []
  const ratios: number[] = []
  let gwRss = 0
  for (let r = 1; r <= ROUNDS; r++) {
    const a = await measure(`raw undici proxy (round ${r})`, rawUrl, rawPid)
    const b = await measure(`kortex (node) (round ${r})`, gwUrl, gwPid)
    rows.push(a, b)
    ratios.push(b.rps / a.rps)
    gwRss = b.rssMb
  }
  const rawStream = await timeToFirstContent(rawUrl)
  raw.child.kill()

  // The other routes against the plain one, in the same process, also in rounds.
  for (const model of ['bench-managed', 'bench-limited']) await load(gwUrl, 2, model)
  const extra: Row[] = []
  const vs: Record<string, { rps: number[]; cpu: number[] }> = {}
  for (let r = 1; r <= ROUNDS; r++) {
    const plainRow = await measure(`kortex plain (round ${r})`, gwUrl, gwPid)
    extra.push(plainRow)
    for (const [name, model] of [
      ['kortex: rules + split + experiment', 'bench-managed'],
      ['kortex: limits + cost (memory)', 'bench-limited'],
    ] as const) {
      const row = await measure(`${name} (round ${r})`, gwUrl, gwPid, model)
      extra.push(row)
      const v = (vs[name] ??= { rps: [], cpu: [] })
      v.rps.push(row.rps / plainRow.rps - 1)
      v.cpu.push(row.cpuUs / plainRow.cpuUs - 1)
    }
  }
  const gwStream = await timeToFirstContent(`http://127.0.0.1:${gw.port}/v1/chat/completions`)
  const direct = await timeToFirstContent(`${upstreamUrl}/v1/chat/completions`)
  gw.child.kill()
  let redisRow: Row | undefined
  try {
    const gr = await start(pin(1, ['node', ...GATEWAY_FLAGS, 'bin/kortex.js', '--config', redisConfig, '--port', '0']))
    redisRow = await measure('kortex: limits + cost (Redis)', `http://127.0.0.1:${gr.port}/v1/chat/completions`, gr.child.pid!, 'bench-limited')
    gr.child.kill()
  } catch (err) {
    console.error(`(Redis run skipped: ${err instanceof Error ? err.message.split('\n')[0] : err})`)
  }

  console.log('\nnon-streaming chat, one route with a default backend')
  console.table(rows.map((r) => ({ target: r.name, 'req/s': Math.round(r.rps), 'p50 ms': r.p50, 'p99 ms': r.p99, 'CPU µs/req': Math.round(r.cpuUs), 'peak RSS MB': Math.round(r.rssMb), errors: r.errors })))
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`
  console.log('\nthe same gateway process, other routes, each against the plain run of its round')
  console.table(extra.map((r) => ({ target: r.name, 'req/s': Math.round(r.rps), 'p50 ms': r.p50, 'p99 ms': r.p99, 'CPU µs/req': Math.round(r.cpuUs), errors: r.errors })))
  console.table(Object.entries(vs).map(([name, v]) => ({ route: name, 'req/s vs plain (median)': pct(median(v.rps)), 'CPU vs plain (median)': pct(median(v.cpu)), rounds: v.rps.map(pct).join(' ') })))
  if (redisRow) {
    const plainNow = extra.filter((r) => r.name.startsWith('kortex plain')).at(-1)!
    console.log(`Redis (a fresh gateway, limits + cost): ${Math.round(redisRow.rps)} req/s, p50 ${redisRow.p50} ms, p99 ${redisRow.p99} ms, ${Math.round(redisRow.cpuUs)} µs CPU/req (${pct(redisRow.cpuUs / plainNow.cpuUs - 1)} vs the last plain run), errors ${redisRow.errors}`)
  }
  const ratio = median(ratios)
  const rssOk = gwRss < 120
  console.log(
    `kortex / raw: ${(ratio * 100).toFixed(0)}% of the reference's req/s, the median of ${ROUNDS} rounds (${ratios.map((x) => `${(x * 100).toFixed(0)}%`).join(', ')}; target ≥ 70%: ${ratio >= 0.7 ? 'PASS' : 'FAIL'}); peak RSS ${Math.round(gwRss)} MB on the plain route (target < 120 MB: ${rssOk ? 'PASS' : 'FAIL'})`,
  )
  console.log('\nstreaming: first content chunk after the upstream sends it 100 ms in (no buffering means the same time); the median of 5 streams')
  console.table([
    { path: 'direct to upstream', 'first content ms': direct.first.toFixed(1), 'total ms': direct.total.toFixed(1) },
    { path: 'raw proxy', 'first content ms': rawStream.first.toFixed(1), 'total ms': rawStream.total.toFixed(1) },
    { path: 'kortex', 'first content ms': gwStream.first.toFixed(1), 'total ms': gwStream.total.toFixed(1) },
  ])
  process.exit(0)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
