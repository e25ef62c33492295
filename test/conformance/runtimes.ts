// Starts one Kortex on each runtime from the same config text: Node (the
// server adapter), workerd (the Worker bundle through miniflare, Durable
// Objects as the StateStore) and Deno (adapters/deno/main.ts under the deno
// binary from npm). Each answers on a real http:// URL, so clients (the
// openai SDK) cannot tell them apart.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Miniflare } from 'miniflare'
import { startTestKortex } from '../helpers/kortex.ts'
import { buildWorker, workerOptions, type BuiltWorker } from '../adapters/cloudflare-harness.ts'

export type RuntimeName = 'node' | 'workerd' | 'deno'
export const RUNTIMES: RuntimeName[] = ['node', 'workerd', 'deno']

export interface RunningRuntime {
  name: RuntimeName
  /** http://host:port, without /v1. */
  url: string
  /** ms from asking to start to the first answer. */
  startMs: number
  close(): Promise<void>
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const DENO_BIN = `${ROOT}node_modules/.bin/deno`

export interface StartOptions {
  /** The Worker bundle to reuse (workerd); built when absent. */
  worker?: BuiltWorker
  /** Environment / bindings: secrets the config names. */
  env?: Record<string, string>
}

async function firstAnswer(url: string, until = Date.now() + 20_000): Promise<void> {
  for (;;) {
    try {
      const res = await fetch(`${url}/healthz`)
      await res.text()
      if (res.ok) return
    } catch {
      // not yet
    }
    if (Date.now() > until) throw new Error(`${url} did not answer in time`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

export async function startRuntime(name: RuntimeName, yaml: string, opts: StartOptions = {}): Promise<RunningRuntime> {
  const started = performance.now()
  const env = opts.env ?? {}
  if (name === 'node') {
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]))
    Object.assign(process.env, env)
    const k = await startTestKortex(yaml)
    return {
      name,
      url: k.url,
      startMs: performance.now() - started,
      close: async () => {
        await k.close()
        for (const [key, v] of Object.entries(saved)) if (v === undefined) delete process.env[key]
        else process.env[key] = v
      },
    }
  }
  if (name === 'workerd') {
    const worker = opts.worker ?? (await buildWorker())
    const mf = new Miniflare({ workers: [workerOptions(worker, 'kortex', { KORTEX_CONFIG: yaml, ...env })], port: 0, host: '127.0.0.1' })
    const url = (await mf.ready).origin
    await firstAnswer(url)
    return {
      name,
      url,
      startMs: performance.now() - started,
      close: async () => {
        await mf.dispose()
        if (!opts.worker) await worker.remove()
      },
    }
  }
  return startDeno({ KORTEX_CONFIG: yaml, ...env }, started)
}

/** adapters/deno/main.ts on a free port; resolves once it answers. */
export async function startDeno(env: Record<string, string>, started = performance.now()): Promise<RunningRuntime> {
  const child: ChildProcess = spawn(DENO_BIN, ['run', '--config', 'adapters/deno/deno.json', '--allow-net', '--allow-env', '--allow-read', 'adapters/deno/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out = (out + d).slice(-20_000)))
  const url = await new Promise<string>((resolve, reject) => {
    let err = ''
    const timer = setTimeout(() => reject(new Error(`deno did not start in time:\n${err}`)), 30_000)
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d
      const m = /listening on (http:\/\/[^\s]+)/.exec(err)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`deno exited (${code}) before listening:\n${err}`))
    })
  })
  child.stderr!.resume()
  return {
    name: 'deno',
    url,
    startMs: performance.now() - started,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
        child.once('exit', () => {
          clearTimeout(timer)
          resolve()
        })
        child.kill('SIGTERM')
      }),
  }
}
