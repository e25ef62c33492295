// npm run bench: a local upstream, the Kortex Node gateway and a raw undici
// proxy (the reference) in one run. Load generator and upstream share CPU 0;
// each proxy in turn gets CPU 1. For each: req/s, p50/p99, the proxy's CPU
// time per request and its peak RSS; then time-to-first-content on a stream
// with and without the gateway. Everything runs on 127.0.0.1 and stops itself.
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
// @ts-expect-error autocannon ships no types
import autocannon from 'autocannon'
import { benchConfig, cpuSeconds, hasTaskset, peakRssMb, pin, pinSelf, start } from './bench-children.ts'

const DURATION = Number(process.env.BENCH_SECONDS ?? 10)
// The Node flags `npm start` uses (package.json): a 4 MB young generation, and an old one
// collected at 1.5x its live size rather than V8's default of up to 4x.
const GATEWAY_FLAGS = ['--max-semi-space-size=4', '--heap-growing-percent=50']
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
pinSelf()

const body = JSON.stringify({
  model: 'bench-model',
  messages: [
    { role: 'system', content: 'You are a helpful assistant. '.repeat(10) },
    { role: 'user', content: 'Summarise the following text in one sentence: ' + 'lorem ipsum dolor sit amet '.repeat(22) },
  ],
  temperature: 0.2,
  max_tokens: 256,
})

let sent = 0
async function load(url: string, seconds: number, model?: string) {
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

async function measure(name: string, url: string, pid: number, model?: string): Promise<Row> {
  await load(url, 2, model) // warm-up: JIT, connection pools
  const cpu0 = cpuSeconds(pid)
  const r = await load(url, DURATION, model)
  const cpu = cpuSeconds(pid) - cpu0
  const n = r.requests.total
  return { name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, cpuUs: (cpu / n) * 1e6, rssMb: peakRssMb(pid), errors: r.errors + r.non2xx }
}

async function timeToFirstContent(url: string): Promise<{ first: number; total: number }> {
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
  console.log(`Kortex bench: ${DURATION}s per target, ${CONNECTIONS} connections, ~${body.length} B chat request${hasTaskset ? ', load+upstream on CPU 0, proxy on CPU 1' : ' (taskset missing: no pinning)'}`)
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
  // The same, with limits and spend in Redis.
  const redisConfig = join(dir, 'bench-redis.yaml')
  writeFileSync(redisConfig, readFileSync(config, 'utf8').replace('spec: { auth: { open: true }, accessLog: false }', 'spec: { auth: { open: true }, accessLog: false, state: { store: redis, prefix: "kortex-bench:" } }'))

  const rows: Row[] = []
  const raw = await start(pin(1, [...tsx, 'scripts/bench-raw-proxy.ts', '0', upstreamUrl]))
  const rawPid = raw.child.pid!
  rows.push(await measure('raw undici proxy', `http://127.0.0.1:${raw.port}/v1/chat/completions`, rawPid))
  const rawStream = await timeToFirstContent(`http://127.0.0.1:${raw.port}/v1/chat/completions`)
  raw.child.kill()

  // Started as `npm start` starts it.
  const gw = await start(pin(1, ['node', ...GATEWAY_FLAGS, 'bin/kortex.js', '--config', config, '--port', '0']))
  const gwPid = gw.child.pid!
  // Every route the same process will serve is warmed up first, so the first plain run is not the JIT's.
  for (const model of ['bench-model', 'bench-managed', 'bench-limited']) await load(`http://127.0.0.1:${gw.port}/v1/chat/completions`, 2, model)
  rows.push(await measure('kortex (node)', `http://127.0.0.1:${gw.port}/v1/chat/completions`, gwPid))
  const extra: Row[] = []
  extra.push(await measure('kortex: rules + split + experiment', `http://127.0.0.1:${gw.port}/v1/chat/completions`, gwPid, 'bench-managed'))
  extra.push(await measure('kortex: limits + cost (memory)', `http://127.0.0.1:${gw.port}/v1/chat/completions`, gwPid, 'bench-limited'))
  rows.push(await measure('kortex (node), again', `http://127.0.0.1:${gw.port}/v1/chat/completions`, gwPid))
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
  const plain = (rows[1]!.rps + rows[2]!.rps) / 2
  const plainCpu = (rows[1]!.cpuUs + rows[2]!.cpuUs) / 2
  console.log('\nthe same gateway process, other routes (plain = the mean of the two plain runs around them)')
  console.table(
    [...extra, ...(redisRow ? [redisRow] : [])].map((r) => ({
      target: r.name,
      'req/s': Math.round(r.rps),
      'p50 ms': r.p50,
      'p99 ms': r.p99,
      'CPU µs/req': Math.round(r.cpuUs),
      'vs plain req/s': `${((r.rps / plain - 1) * 100).toFixed(1)}%`,
      'vs plain CPU': `${((r.cpuUs / plainCpu - 1) * 100).toFixed(1)}%`,
      errors: r.errors,
    })),
  )
  const ratio = rows[1]!.rps / rows[0]!.rps
  const rssOk = rows[1]!.rssMb < 120
  console.log(`kortex / raw: ${(ratio * 100).toFixed(0)}% of the reference's req/s (target ≥ 70%: ${ratio >= 0.7 ? 'PASS' : 'FAIL'}); peak RSS ${Math.round(rows[1]!.rssMb)} MB (target < 120 MB: ${rssOk ? 'PASS' : 'FAIL'})`)
  console.log('\nstreaming: first content chunk after the upstream sends it 100 ms in (no buffering means the same time)')
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
