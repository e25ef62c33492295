// npm run bench:otel: what observability costs the gateway. Two gateways on
// CPU 1, loaded in turn on the plain route: one with everything off
// (KORTEX_METRICS=off, no OTEL_*), one with metrics on and OTLP export
// (traces and metrics, http/protobuf, Kortex's default sampler) to a collector stand-in in this process (CPU 0, with the load and
// the upstream). The figure is the gateway's CPU time per request, export
// included (the SDK's batch processor and exporters run in its process),
// compared within each round; the median of BENCH_ROUNDS rounds is reported.
// A third gateway with metrics alone (no OTEL_*) shows which part costs what.
// BENCH_OTEL_SAMPLER / BENCH_OTEL_SAMPLER_ARG set the sampler of the traced one.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
// @ts-expect-error autocannon ships no types
import autocannon from 'autocannon'
import { BENCH_BODY, benchConfig, measureWindow, hasTaskset, pin, pinSelf, start, startFlags } from './bench-children.ts'

const DURATION = Number(process.env.BENCH_SECONDS ?? 6)
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 2)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5))
const GATEWAY_FLAGS = startFlags()
pinSelf()

const body = BENCH_BODY

/** The collector: takes every post; counts the server spans in the protobuf by their name. */
async function collector() {
  const got = { posts: 0, bytes: 0, spans: 0, metricPosts: 0 }
  const name = Buffer.from('POST /v1/chat/completions')
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const b = Buffer.concat(chunks)
      got.posts++
      got.bytes += b.length
      if (req.url === '/v1/metrics') got.metricPosts++
      for (let i = b.indexOf(name); i >= 0; i = b.indexOf(name, i + name.length)) got.spans++
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got, close: () => server.close() }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** CPU µs per request of `pid` over the last DURATION seconds of a WARMUP + DURATION load. */
async function measure(url: string, pid: number): Promise<{ rps: number; cpuUs: number; n: number; errors: number }> {
  const run = autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: CONNECTIONS, duration: WARMUP + DURATION })
  let counting = false
  let n = 0
  let errors = 0
  run.on('response', (_c: unknown, status: number) => {
    if (!counting) return
    n++
    if (status !== 200) errors++
  })
  const { cpu, seconds } = await measureWindow(pid, WARMUP, DURATION, (on) => (counting = on))
  await run
  return { rps: n / seconds, cpuUs: (cpu / n) * 1e6, n, errors }
}

async function main() {
  // Unset: the gateway's default (parent-based, 1% of untraced requests; adapters/otel/settings.ts).
  const sampler = process.env.BENCH_OTEL_SAMPLER
  console.log(`Kortex observability bench: ${DURATION}s per target, ${ROUNDS} rounds, ${CONNECTIONS} connections, plain route; traced gateway: metrics on, OTLP http/protobuf traces + metrics, sampler ${sampler ?? "Kortex's default"}${process.env.BENCH_OTEL_SAMPLER_ARG ? ` ${process.env.BENCH_OTEL_SAMPLER_ARG}` : ''}${hasTaskset ? '; gateways on CPU 1, load + upstream + collector on CPU 0' : ''}`)
  const upstream = await start(pin(0, ['node', '--import', 'tsx', 'scripts/bench-upstream.ts', '0']))
  const dir = mkdtempSync(join(tmpdir(), 'kortex-bench-otel-'))
  const config = join(dir, 'bench.yaml')
  writeFileSync(config, benchConfig(`http://127.0.0.1:${upstream.port}`))
  const otlp = await collector()
  const clean = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('OTEL_')).map((k) => [k, '']))
  const gw = (env: Record<string, string>) => start(pin(1, ['node', ...GATEWAY_FLAGS, 'bin/kortex.js', '--config', config, '--port', '0']), { ...clean, ...env })
  const off = await gw({ KORTEX_METRICS: 'off' })
  const metricsOnly = await gw({ KORTEX_METRICS: 'on' })
  const on = await gw({
    KORTEX_METRICS: 'on',
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    ...(sampler ? { OTEL_TRACES_SAMPLER: sampler } : {}),
    ...(process.env.BENCH_OTEL_SAMPLER_ARG ? { OTEL_TRACES_SAMPLER_ARG: process.env.BENCH_OTEL_SAMPLER_ARG } : {}),
    OTEL_METRIC_EXPORT_INTERVAL: '10000',
  })
  const url = (p: number) => `http://127.0.0.1:${p}/v1/chat/completions`
  // the JIT's warm-up, each
  for (const g of [off, metricsOnly, on]) await measure(url(g.port), g.child.pid!)
  const rows: Array<Record<string, string | number>> = []
  const ratios: number[] = []
  const metricRatios: number[] = []
  let requests = 0
  let spans0 = otlp.got.spans
  for (let r = 1; r <= ROUNDS; r++) {
    const a = await measure(url(off.port), off.child.pid!)
    const m = await measure(url(metricsOnly.port), metricsOnly.child.pid!)
    metricRatios.push(m.cpuUs / a.cpuUs - 1)
    spans0 = otlp.got.spans
    const b = await measure(url(on.port), on.child.pid!)
    requests += b.n
    ratios.push(b.cpuUs / a.cpuUs - 1)
    for (const [name, x] of [['off', a], ['metrics', m], ['metrics + OTLP', b]] as const) rows.push({ round: r, gateway: name, 'req/s': Math.round(x.rps), 'CPU µs/req': Math.round(x.cpuUs * 10) / 10, errors: x.errors })
  }
  await sleep(6000) // the last batches
  const spansSeen = otlp.got.spans - spans0
  off.child.kill()
  metricsOnly.child.kill()
  on.child.kill()
  upstream.child.kill()
  otlp.close()
  console.table(rows)
  const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!
  const median = med(ratios)
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`
  console.log(`CPU per request, metrics alone vs off: ${pct(med(metricRatios))} (rounds: ${metricRatios.map(pct).join(', ')})`)
  console.log(`CPU per request, metrics + OTLP vs off: ${pct(median)} (median of ${ROUNDS} rounds: ${ratios.map(pct).join(', ')}; target within +10%: ${median <= 0.1 ? 'PASS' : 'FAIL'})`)
  console.log(`collector: ${otlp.got.posts} posts (${otlp.got.metricPosts} of metrics), ${(otlp.got.bytes / 1e6).toFixed(1)} MB; server spans in the last round: ${spansSeen} (of ~${Math.round(requests / ROUNDS)} requests counted in its window, plus its warm-up)`)
  process.exit(0)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
