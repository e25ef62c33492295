// npm run bench:edge: the same bench route on the three runtimes in one run —
// Node (bin/kortex.js), workerd (the Worker bundle through miniflare, Durable
// Objects as the store) and Deno (adapters/deno/main.ts) — non-streaming
// req/s and p50/p99, without a limit and with one (a StateStore call per
// request: memory on Node and Deno, a Durable Object on workerd); then the
// Worker's bundle size and cold start (workerd start to first answer, minus
// the same for a hello-world Worker). Load generator and upstream share
// CPU 0; each runtime in turn gets CPU 1. Everything stops itself.
import type { ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { Miniflare } from 'miniflare'
// @ts-expect-error autocannon ships no types
import autocannon from 'autocannon'
import { benchConfig, hasTaskset, pin, pinSelf, start, startFlags } from './bench-children.ts'

const DURATION = Number(process.env.BENCH_SECONDS ?? 8)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 3)
const root = new URL('..', import.meta.url).pathname
const COMPATIBILITY = { compatibilityDate: '2026-04-01', compatibilityFlags: ['nodejs_compat'] } // as wrangler.toml

async function bundleWorker(dir: string): Promise<string> {
  const out = join(dir, 'worker.js')
  await build({
    entryPoints: [join(root, 'adapters/cloudflare/worker.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    external: ['cloudflare:*', 'node:*'],
    outfile: out,
    logLevel: 'error',
  })
  return out
}

// Child mode: serve the Worker through miniflare on a free port (so workerd inherits this process's CPU pinning).
if (process.argv[2] === '--serve-worker') {
  const [dir, configFile] = process.argv.slice(3) as [string, string]
  const mf = new Miniflare({
    modules: true,
    scriptPath: join(dir, 'worker.js'),
    modulesRoot: dir,
    ...COMPATIBILITY,
    bindings: { KORTEX_CONFIG: readFileSync(configFile, 'utf8') },
    durableObjects: { KORTEX_STATE: { className: 'KortexState', useSQLite: true } },
    host: '127.0.0.1',
    port: 0,
  })
  const url = await mf.ready
  console.log(`listening on ${url.origin}`)
  process.on('SIGTERM', () => void mf.dispose().then(() => process.exit(0)))
  await new Promise(() => {})
}

pinSelf()

async function stop(c: ChildProcess) {
  if (c.exitCode !== null) return
  const done = new Promise((r) => c.once('exit', r))
  c.kill('SIGTERM')
  const t = setTimeout(() => c.kill('SIGKILL'), 3000)
  await done
  clearTimeout(t)
}

const body = (model: string) =>
  JSON.stringify({
    model,
    messages: [
      { role: 'system', content: 'You are a helpful assistant. '.repeat(10) },
      { role: 'user', content: 'Summarise the following text in one sentence: ' + 'lorem ipsum dolor sit amet '.repeat(22) },
    ],
    temperature: 0.2,
    max_tokens: 256,
  })

const load = (url: string, model: string, seconds: number) =>
  autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body: body(model), connections: CONNECTIONS, duration: seconds })

interface Row {
  runtime: string
  route: string
  'req/s': number
  'p50 ms': number
  'p99 ms': number
  errors: number
}

async function measure(runtime: string, base: string): Promise<Row[]> {
  const url = `${base}/v1/chat/completions`
  const rows: Row[] = []
  const routes = [
    ['no limit', 'bench-model'],
    ['rate limit', 'bench-limited'],
  ] as const
  // Warm-up on both routes before measuring either (JIT, connection pools, objects): the first route measured must not pay for it.
  for (const [, model] of routes) await load(url, model, WARMUP)
  for (const [route, model] of routes) {
    const r = await load(url, model, DURATION)
    rows.push({ runtime, route, 'req/s': Math.round(r.requests.average), 'p50 ms': r.latency.p50, 'p99 ms': r.latency.p99, errors: r.errors + r.non2xx })
  }
  return rows
}

/** workerd start to first answer for one script, ms (explicit modules: no parsing by miniflare on the way). */
async function coldStart(dir: string, file: string, bindings: Record<string, string> = {}): Promise<number> {
  const t = performance.now()
  const mf = new Miniflare({ modulesRoot: dir, modules: [{ type: 'ESModule', path: join(dir, file), contents: readFileSync(join(dir, file), 'utf8') }], ...COMPATIBILITY, bindings })
  const res = await mf.dispatchFetch('http://kortex.test/healthz')
  await res.text()
  const ms = performance.now() - t
  await mf.dispose()
  return ms
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function main() {
  console.log(`Kortex edge bench: ${DURATION}s per route, ${CONNECTIONS} connections${hasTaskset ? ', load+upstream on CPU 0, runtime on CPU 1' : ' (taskset missing: no pinning)'}`)
  const tsx = ['node', '--import', 'tsx']
  const upstream = await start(pin(0, [...tsx, 'scripts/bench-upstream.ts', '0']))
  const dir = mkdtempSync(join(tmpdir(), 'kortex-bench-edge-'))
  const configFile = join(dir, 'bench.yaml')
  writeFileSync(
    configFile,
    `${benchConfig(`http://127.0.0.1:${upstream.port}`)}---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: limited }
spec: { models: [bench-limited], defaultBackend: { name: upstream }, rateLimit: { requestsPerMinute: 1000000000 } }
`,
  )
  const script = await bundleWorker(dir)
  const bundle = readFileSync(script)

  const rows: Row[] = []
  const node = await start(pin(1, ['node', ...startFlags(), 'bin/kortex.js', '--config', configFile, '--port', '0']))
  rows.push(...(await measure('node', `http://127.0.0.1:${node.port}`)))
  await stop(node.child)

  const workerd = await start(pin(1, [...tsx, 'scripts/bench-edge.ts', '--serve-worker', dir, configFile]))
  rows.push(...(await measure('workerd (miniflare, DO store)', `http://127.0.0.1:${workerd.port}`)))
  await stop(workerd.child)

  const deno = await start(pin(1, [join(root, 'node_modules/.bin/deno'), 'run', '--config', 'adapters/deno/deno.json', '--allow-net', '--allow-env', '--allow-read', 'adapters/deno/main.ts']), {
    KORTEX_CONFIG: readFileSync(configFile, 'utf8'),
    PORT: '0',
    DENO_NO_UPDATE_CHECK: '1',
  })
  rows.push(...(await measure('deno', `http://127.0.0.1:${deno.port}`)))
  await stop(deno.child)
  await stop(upstream.child)
  console.table(rows)

  // Cold start: a fresh workerd per run; the hello-world Worker is the floor (workerd's own start).
  writeFileSync(join(dir, 'hello.js'), `export default { fetch() { return new Response('ok') } }`)
  await coldStart(dir, 'hello.js') // first workerd start of the run pays for disk caches
  const hello: number[] = []
  const kortex: number[] = []
  for (let i = 0; i < 3; i++) {
    hello.push(await coldStart(dir, 'hello.js'))
    kortex.push(await coldStart(dir, 'worker.js'))
  }
  console.table([
    {
      'bundle KiB': Math.round(bundle.length / 1024),
      'gzip KiB': Math.round(gzipSync(bundle).length / 1024),
      'hello-world start ms': Math.round(median(hello)),
      'kortex start ms': Math.round(median(kortex)),
      'kortex cold start ms (difference)': Math.round(median(kortex) - median(hello)),
    },
  ])
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)
