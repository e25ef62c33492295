// A redis-server of our own, on a free port, stopped and restarted by its
// pid, so outage tests never disturb the shared one on 6379.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer, connect, type AddressInfo } from 'node:net'
import { expect, it } from 'vitest'
import { RedisStore } from '../../adapters/redis/store.ts'

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const { port } = srv.address() as AddressInfo
  await new Promise((r) => srv.close(r))
  return port
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ port, host: '127.0.0.1' })
    const done = (ok: boolean) => {
      sock.destroy()
      resolve(ok)
    }
    sock.setTimeout(500, () => done(false))
    sock.on('error', () => done(false))
    sock.on('connect', () => sock.write('PING\r\n'))
    // +PONG, or -NOAUTH when it wants a password: either way it is serving.
    sock.on('data', (d) => done(/^[+-]/.test(d.toString())))
  })
}

export async function startRedis(port: number, password?: string): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...(password ? ['--requirepass', password] : [])], { stdio: 'ignore' })
  let exited = false
  child.on('exit', () => (exited = true))
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (exited) throw new Error(`redis-server --port ${port} exited at start`)
    if (await answers(port)) return child
    await sleep(50)
  }
  process.kill(child.pid!, 'SIGKILL')
  throw new Error(`redis-server --port ${port} did not answer PING`)
}

export async function stopRedis(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const exit = once(child, 'exit')
  process.kill(child.pid!, 'SIGCONT') // in case a test left it paused
  process.kill(child.pid!, signal)
  await exit
}


export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/**
 * Is the shared Redis there? When CI is set and it is not, a failing test
 * says so; elsewhere the Redis tests are skipped with a loud warning.
 */
export async function requireRedis(what = 'Redis tests'): Promise<boolean> {
  const u = new URL(REDIS_URL)
  const where = `${u.protocol}//${u.host}`
  const probe = new RedisStore({ url: REDIS_URL, prefix: 'kortex-test:probe:' })
  let up = false
  try {
    await probe.ready(2000)
    await probe.get('probe')
    up = true
  } catch {
    up = false
  } finally {
    await probe.close()
  }
  if (up) return true
  if (process.env.CI) {
    it(`Redis is reachable at ${where} (required when CI is set)`, () => {
      expect.fail(`REDIS NOT REACHABLE at ${where}: start redis-server or set REDIS_URL`)
    })
  } else console.warn(`\n\n!!! REDIS NOT REACHABLE at ${where} — ${what} SKIPPED !!!\n\n`)
  return false
}
