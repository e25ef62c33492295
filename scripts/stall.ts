// node --import tsx scripts/stall.ts [--huge 6] [--mb 3.9] [--parallel 2] [--words 0]
// The longest event-loop stall of a Node gateway under a mix of huge prompts
// and normal traffic. The gateway runs in a child process with a token-
// limited route (so every prompt is counted exactly at admission) and
// measures its own event loop (perf_hooks monitorEventLoopDelay); this
// process sends `huge` prompts of `mb` MB each, `parallel` at a time, while
// a steady stream of small chat requests and /healthz checks runs beside
// them, and prints the longest stall and the slowest normal answers.
// `--words 3` cuts each prompt into messages of 3 words (100,000s of them).
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { monitorEventLoopDelay } from 'node:perf_hooks'

const CONFIG = `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { open: true }, accessLog: false, maxBodyBytes: 16777216 }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: echo }
spec: { type: demo }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: limited }
spec:
  models: [gpt-4o]
  defaultBackend: { name: echo }
  rateLimit: { tokensPerMinute: 1000000000 }
`

type Report = { maxMs: number; p99Ms: number; meanMs: number; busiestMs: number }

async function serve() {
  const { startKortex } = await import('../adapters/node/start.ts')
  const dir = mkdtempSync(join(tmpdir(), 'kortex-stall-'))
  writeFileSync(join(dir, 'kortex.yaml'), CONFIG)
  const k = await startKortex({ configPath: join(dir, 'kortex.yaml'), port: 0, notice: () => {}, log: { record: () => {}, warn: () => {}, error: () => {} } })
  const h = monitorEventLoopDelay({ resolution: 5 })
  h.enable()
  // A ticker beside it: the longest gap between two ticks, and the CPU this process
  // used within one gap. On a busy machine a gap can be the scheduler's doing
  // (little CPU used in it); a gap full of CPU is the gateway's own.
  let last = performance.now()
  let lastCpu = process.cpuUsage()
  let busiest = 0
  const tick = () => {
    const now = performance.now()
    const cpu = process.cpuUsage()
    busiest = Math.max(busiest, Math.min(now - last, (cpu.user + cpu.system - lastCpu.user - lastCpu.system) / 1000))
    last = now
    lastCpu = cpu
    setTimeout(tick, 1)
  }
  tick()
  process.on('message', (m: string) => {
    if (m === 'reset') (h.reset(), (busiest = 0))
    if (m === 'report') process.send!({ maxMs: h.max / 1e6, p99Ms: h.percentile(99) / 1e6, meanMs: h.mean / 1e6, busiestMs: busiest } satisfies Report)
    if (m === 'stop') k.close().then(() => process.exit(0))
  })
  process.send!({ url: k.url })
}

/** Words of random letters: no two prompts alike, so no cache helps. */
function hugePrompt(bytes: number): string {
  const parts: string[] = []
  let size = 0
  const letters = 'etaoinshrdlucmfwypvbgkjqxz'
  while (size < bytes) {
    let w = ''
    const len = 2 + Math.floor(Math.random() * 10)
    for (let i = 0; i < len; i++) w += letters[Math.floor(Math.random() * (i ? letters.length : 10))]
    parts.push(w)
    size += w.length + 1
  }
  return parts.join(' ')
}

const ask = (child: ChildProcess, m: string) => new Promise<Report>((resolve) => (child.once('message', (r) => resolve(r as Report)), child.send(m)))

async function main() {
  const { values } = parseArgs({ options: { huge: { type: 'string', default: '6' }, mb: { type: 'string', default: '3.9' }, parallel: { type: 'string', default: '2' }, words: { type: 'string', default: '0' } } })
  const huge = Number(values.huge)
  const bytes = Math.round(Number(values.mb) * 1024 * 1024)
  const parallel = Number(values.parallel)
  const child = fork(new URL(import.meta.url).pathname, ['--serve'], { execArgv: ['--import', 'tsx', ...(process.env.STALL_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.STALL_PROF] : [])] })
  const { url } = await new Promise<{ url: string }>((resolve) => child.once('message', (m) => resolve(m as { url: string })))
  const send = (messages: unknown[]) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o', messages }) })
  const chat = (content: string) => send([{ role: 'user', content }])
  const words = Number(values.words)
  const cut = (text: string) => {
    if (!words) return [{ role: 'user', content: text }]
    const w = text.split(' ')
    return Array.from({ length: Math.ceil(w.length / words) }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: w.slice(i * words, (i + 1) * words).join(' ') }))
  }
  // Warm up: the tokenizer is built on first need (a one-time cost, not what this measures).
  await (await chat('warm up the tokenizer')).text()
  const bodies = Array.from({ length: huge }, () => hugePrompt(bytes))
  child.send('reset')

  let done = false
  const slowest = { chat: 0, healthz: 0 }
  let normal = 0
  const steady = (async () => {
    while (!done) {
      const t0 = performance.now()
      const r = await chat('hello')
      await r.text()
      slowest.chat = Math.max(slowest.chat, performance.now() - t0)
      const t1 = performance.now()
      await (await fetch(`${url}/healthz`)).text()
      slowest.healthz = Math.max(slowest.healthz, performance.now() - t1)
      normal += 2
      await new Promise((r) => setTimeout(r, 20))
    }
  })()
  const t0 = performance.now()
  const statuses: number[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < bodies.length) {
        const r = await send(cut(bodies[next++]!))
        statuses.push(r.status)
        await r.arrayBuffer()
      }
    }),
  )
  const elapsed = performance.now() - t0
  done = true
  await steady
  const loop = await ask(child, 'report')
  child.send('stop')
  console.log(`huge prompts: ${huge} × ${values.mb} MB${words ? ` in messages of ${words} words` : ''}, ${parallel} at a time, in ${(elapsed / 1000).toFixed(1)} s (statuses ${[...new Set(statuses)].join(',')})`)
  console.log(`normal requests meanwhile: ${normal}; slowest chat ${slowest.chat.toFixed(0)} ms, slowest /healthz ${slowest.healthz.toFixed(0)} ms`)
  console.log(`gateway event loop: longest stall ${loop.maxMs.toFixed(0)} ms (of which CPU-bound at most ${loop.busiestMs.toFixed(0)} ms), p99 ${loop.p99Ms.toFixed(1)} ms, mean ${loop.meanMs.toFixed(1)} ms`)
}

if (process.argv.includes('--serve')) void serve()
else void main()
