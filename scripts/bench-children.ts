// What the benchmarks share: CPU pinning with taskset, child processes that
// announce "listening <port>" and die with the bench, /proc figures, and the
// plain bench route every runtime is measured on.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'

const root = new URL('..', import.meta.url).pathname

/** The Node flags of `npm start` (package.json), e.g. ['--max-semi-space-size=8', ...]. */
export function startFlags(): string[] {
  const start: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).scripts.start
  const words = start.split(/\s+/)
  return words.slice(words.indexOf('node') + 1, words.indexOf('bin/kortex.js'))
}

export const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

/** The command, pinned to one CPU when taskset is there. */
export const pin = (cpu: number, cmd: string[]) => (hasTaskset ? ['taskset', '-c', String(cpu), ...cmd] : cmd)

/** The bench itself (load generator) runs on CPU 0. */
export function pinSelf(): void {
  if (hasTaskset) execFileSync('taskset', ['-cp', '0', String(process.pid)], { stdio: 'ignore' })
}

const children: ChildProcess[] = []
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')))

/** Starts `cmd` and resolves once it prints the port it listens on (a controller: the one it serves on). */
export function start(cmd: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(cmd[0]!, cmd.slice(1), { cwd: root, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  return new Promise((resolve, reject) => {
    let out = ''
    const on = (d: Buffer) => {
      out += d
      const m = /listening (\d+)|listening on http:\/\/127\.0\.0\.1:(\d+)|serving http:\/\/127\.0\.0\.1:(\d+)/.exec(out)
      if (!m) return
      // From here on the child's output (a gateway's cost records, one per
      // request) is read and dropped: keeping and rescanning it would load
      // CPU 0, where the load generator runs.
      out = ''
      child.stdout!.off('data', on).resume()
      child.stderr!.off('data', on).resume()
      resolve({ child, port: Number(m[1] ?? m[2] ?? m[3]) })
    }
    child.stdout!.on('data', on)
    child.stderr!.on('data', on)
    child.on('exit', (code) => reject(new Error(`${cmd.join(' ')} exited ${code}: ${out}`)))
  })
}

const TICK = 100 // clock ticks per second on Linux
export function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(f[11]) + Number(f[12])) / TICK // utime + stime
}

export const peakRssMb = (pid: number) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024

/** The open gateway, the upstream backend and the plain route `bench-model`; each bench appends its own routes. */
export const benchConfig = (upstreamUrl: string) => `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: bench }
spec: { auth: { open: true }, accessLog: false }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: upstream }
spec: { type: external, external: { url: "${upstreamUrl}/v1", provider: openai } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: bench }
spec: { models: [bench-model], defaultBackend: { name: upstream } }
`

/** The plain route's request: a short chat of about 400 bytes, as the benchmarks send it. */
export const BENCH_BODY = JSON.stringify({
  model: 'bench-model',
  messages: [
    { role: 'system', content: 'You are a helpful assistant. '.repeat(10) },
    { role: 'user', content: 'Summarise the following text in one sentence: ' + 'lorem ipsum dolor sit amet '.repeat(22) },
  ],
  temperature: 0.2,
  max_tokens: 256,
})

/** Warms up, then counts for `seconds`: the process's CPU seconds and the wall time of the counted window. */
export async function measureWindow(pid: number, warmupSeconds: number, seconds: number, counting: (on: boolean) => void): Promise<{ cpu: number; seconds: number }> {
  await new Promise((r) => setTimeout(r, warmupSeconds * 1000))
  const cpu0 = cpuSeconds(pid)
  const t0 = performance.now()
  counting(true)
  await new Promise((r) => setTimeout(r, seconds * 1000))
  counting(false)
  return { cpu: cpuSeconds(pid) - cpu0, seconds: (performance.now() - t0) / 1000 }
}

const user = 'Summarise the following text in one sentence: ' + 'lorem ipsum dolor sit amet '.repeat(22)
const system = 'You are a helpful assistant. '.repeat(10)
/** Each client API's streamed request for the same conversation, and the plain request (the raw proxy only speaks chat). */
export const TARGETS: Record<string, { path: string; body: string }> = {
  chat: { path: '/v1/chat/completions', body: JSON.stringify({ model: 'bench-model', stream: true, messages: [{ role: 'system', content: system }, { role: 'user', content: user }], temperature: 0.2, max_tokens: 256 }) },
  responses: { path: '/v1/responses', body: JSON.stringify({ model: 'bench-model', stream: true, instructions: system, input: user, temperature: 0.2, max_output_tokens: 256 }) },
  messages: { path: '/v1/messages', body: JSON.stringify({ model: 'bench-model', stream: true, system, messages: [{ role: 'user', content: user }], temperature: 0.2, max_tokens: 256 }) },
  plain: { path: '/v1/chat/completions', body: BENCH_BODY },
}
