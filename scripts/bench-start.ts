// node --import tsx scripts/bench-start.ts: what the build changes at run
// time. The gateway as a checkout runs it (bin/kortex.js bundling the sources
// on start) and as an installed package runs it (bin/kortex.js → dist/, from
// `npm run build`): time from process start to /readyz 200 (median of
// BENCH_STARTS), RSS when idle, and peak RSS under the plain-route load of
// npm run bench, beside the raw undici proxy's. Then the controller under tsx
// and built, against an in-process fake API server: ready time and RSS.
// BENCH_BEFORE=DIR adds the gateway of another checkout (e.g. `git archive`
// of an older commit, with this node_modules linked in).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
// @ts-expect-error autocannon ships no types
import autocannon from 'autocannon'
import { FakeApiServer } from '../test/k8s/fake-apiserver.ts'
import { benchConfig, peakRssMb, pin, pinSelf, start, startFlags } from './bench-children.ts'

const STARTS = Number(process.env.BENCH_STARTS ?? 5)
const DURATION = Number(process.env.BENCH_SECONDS ?? 6)
const root = new URL('..', import.meta.url).pathname
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
pinSelf()

/** Starts cmd; resolves when /readyz answers 200, with the seconds that took. */
async function startReady(cmd: string[], env: Record<string, string> = {}) {
  const t0 = performance.now()
  const s = await start(pin(1, cmd), env)
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${s.port}/readyz`).then((r) => r.status === 200, () => false)
    if (ok) return { ...s, seconds: (performance.now() - t0) / 1000 }
    await sleep(5)
  }
}

async function load(url: string, seconds: number) {
  const body = JSON.stringify({ model: 'bench-model', messages: [{ role: 'user', content: 'lorem ipsum dolor sit amet '.repeat(30) }], max_tokens: 256 })
  await autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: 32, duration: seconds })
}

// The installed layout: bin/kortex.js beside dist/ and no sources, as `npm install kortex-gateway` leaves it.
execFileSync('node', ['scripts/bundle.js'], { cwd: root, stdio: 'ignore' })
const installed = mkdtempSync(join(tmpdir(), 'kortex-installed-'))
process.on('exit', () => rmSync(installed, { recursive: true, force: true })) // the config and kubeconfig live here too
mkdirSync(join(installed, 'bin'))
cpSync(join(root, 'bin/kortex.js'), join(installed, 'bin/kortex.js'))
cpSync(join(root, 'dist'), join(installed, 'dist'), { recursive: true })
cpSync(join(root, 'package.json'), join(installed, 'package.json'))
symlinkSync(join(root, 'node_modules'), join(installed, 'node_modules'))

const upstream = await start(pin(0, ['node', '--import', 'tsx', 'scripts/bench-upstream.ts', '0']))
const upstreamUrl = `http://127.0.0.1:${upstream.port}`
const config = join(installed, 'bench.yaml')
writeFileSync(config, benchConfig(upstreamUrl))

const flags = startFlags()
const gateways: Record<string, string[]> = {
  'checkout (bundles on start)': ['node', ...flags, 'bin/kortex.js', '--config', config, '--port', '0'],
  'installed (dist/)': ['node', ...flags, join(installed, 'bin/kortex.js'), '--config', config, '--port', '0'],
}
if (process.env.BENCH_BEFORE) gateways[`${process.env.BENCH_BEFORE} (checkout)`] = ['node', ...flags, join(process.env.BENCH_BEFORE, 'bin/kortex.js'), '--config', config, '--port', '0']
const rows: Record<string, unknown>[] = []
for (const [name, cmd] of Object.entries(gateways)) {
  const times: number[] = []
  for (let i = 0; i < STARTS; i++) {
    const g = await startReady(cmd)
    times.push(g.seconds)
    g.child.kill()
  }
  const g = await startReady(cmd)
  await sleep(1000)
  const idle = rssMb(g.child.pid!)
  await load(`http://127.0.0.1:${g.port}/v1/chat/completions`, 2 + DURATION)
  rows.push({ target: name, 'ready s (median)': median(times).toFixed(2), 'idle RSS MB': Math.round(idle), 'peak RSS MB': Math.round(peakRssMb(g.child.pid!)) })
  g.child.kill()
}
// The reference as npm run bench runs it (under tsx), and bundled (plain node, as the installed gateway runs).
const { build } = await import('esbuild')
await build({ entryPoints: [join(root, 'scripts/bench-raw-proxy.ts')], outfile: join(installed, 'raw-proxy.mjs'), bundle: true, platform: 'node', format: 'esm', packages: 'external', logLevel: 'silent' })
const raws = {
  'raw undici proxy (tsx, as npm run bench)': ['node', '--import', 'tsx', 'scripts/bench-raw-proxy.ts', '0', upstreamUrl],
  'raw undici proxy (plain node)': ['node', join(installed, 'raw-proxy.mjs'), '0', upstreamUrl],
}
for (const [name, cmd] of Object.entries(raws)) {
  const raw = await start(pin(1, cmd))
  await sleep(1000)
  const rawIdle = rssMb(raw.child.pid!)
  await load(`http://127.0.0.1:${raw.port}/v1/chat/completions`, 2 + DURATION)
  rows.push({ target: name, 'ready s (median)': '-', 'idle RSS MB': Math.round(rawIdle), 'peak RSS MB': Math.round(peakRssMb(raw.child.pid!)) })
  raw.child.kill()
}
console.log(`gateway: plain route, 32 connections, ${DURATION} s after 2 s of warm-up`)
console.table(rows)

// The controller with a few resources to watch.
const api = new FakeApiServer()
await api.start()
const G = 'gateway.kortex.io/v1alpha1'
api.apply({ apiVersion: G, kind: 'GatewayConfig', metadata: { name: 'g', namespace: 'apps' }, spec: { auth: { open: true } } })
for (let i = 0; i < 20; i++) api.apply({ apiVersion: G, kind: 'InferenceBackend', metadata: { name: `b${i}`, namespace: 'apps' }, spec: { type: 'demo' } })
api.apply({ apiVersion: G, kind: 'InferenceRoute', metadata: { name: 'r', namespace: 'apps' }, spec: { models: ['m'], defaultBackend: { name: 'b0' } } })
const kube = join(installed, 'kubeconfig')
writeFileSync(kube, `apiVersion: v1\nkind: Config\nclusters: [{name: f, cluster: {server: "${api.url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: f, context: {cluster: f, user: u}}]\ncurrent-context: f\n`)
const env = { KUBECONFIG: kube, KORTEX_CONTROLLER_TOKENS: 'bench', KORTEX_KSERVE: '0', PORT: '0', HOST: '127.0.0.1' }
const controllers = {
  'tsx k8s/controller/main.ts (before)': ['node', '--import', 'tsx', 'k8s/controller/main.ts'],
  'kortex controller (dist/)': ['node', join(installed, 'bin/kortex.js'), 'controller'],
}
const crows: Record<string, unknown>[] = []
for (const [name, cmd] of Object.entries(controllers)) {
  const times: number[] = []
  let idle = 0
  let peak = 0
  for (let i = 0; i < STARTS; i++) {
    const c = await startReady(cmd, env)
    times.push(c.seconds)
    await sleep(3000)
    idle += rssMb(c.child.pid!) / STARTS
    peak = Math.max(peak, peakRssMb(c.child.pid!))
    c.child.kill()
  }
  crows.push({ target: name, 'ready s (median)': median(times).toFixed(2), 'RSS after 3 s MB (mean)': Math.round(idle), 'peak RSS MB': Math.round(peak) })
}
await api.stop()
console.log('controller: 22 resources, ready = /readyz 200')
console.table(crows)
process.exit(0)
