// The controller started where the cluster cannot be reached, as an operator
// meets it: a kubeconfig naming a closed port, or a plain http:// server.
// Its log says so once, naming the server and the cause, however many times
// the informers retry (counted on /metrics, not by the clock).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { eventually } from './helpers.ts'

const main = new URL('../../k8s/controller/main.ts', import.meta.url).pathname
let child: ChildProcess | undefined
afterEach(() => {
  child?.kill('SIGKILL')
  child = undefined
})

async function closedPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const { port } = s.address() as AddressInfo
  await new Promise((r) => s.close(r))
  return port
}

function kubeconfig(server: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'kortex-unreachable-')), 'config')
  writeFileSync(file, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${server}"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u, namespace: kortex}}]\ncurrent-context: c\n`)
  return file
}

/** Starts the controller on `server`; resolves with its log and how many informer restarts its /metrics counts. */
async function controllerOn(server: string) {
  child = spawn(process.execPath, ['--import', 'tsx', main], {
    env: { ...process.env, KUBECONFIG: kubeconfig(server), KORTEX_CONTROLLER_TOKENS: 't', PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let log = ''
  child.stdout!.on('data', (d) => (log += d))
  child.stderr!.on('data', (d) => (log += d))
  const url = await eventually(() => /serving (http:\/\/\S+)\/config/.exec(log)?.[1], 15_000, 'the controller serving')
  const restarts = async () => {
    const text = await (await fetch(`${url}/metrics`)).text()
    return [...text.matchAll(/^kortex_controller_watch_restarts_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0)
  }
  return { log: () => log, restarts }
}

const lines = (log: string) => log.split('\n').filter((l) => l.trim() && !l.includes('kortex-controller: serving'))

it('a kubeconfig naming a closed port: one line naming the server and the cause, however often it retries', async () => {
  const port = await closedPort()
  const c = await controllerOn(`https://127.0.0.1:${port}`)
  await eventually(async () => (await c.restarts()) >= 10, 15_000, '10 informer restarts')
  expect(lines(c.log())).toHaveLength(1)
  expect(JSON.parse(lines(c.log())[0]!)).toMatchObject({
    msg: 'kortex-controller: cannot reach the Kubernetes API server; retrying with backoff (at most 30 s apart)',
    server: `https://127.0.0.1:${port}`,
    cause: `connect ECONNREFUSED 127.0.0.1:${port}`,
  })
}, 30_000)

it('a kubeconfig naming a plain http:// server: one line that says what to change', async () => {
  const port = await closedPort()
  const c = await controllerOn(`http://127.0.0.1:${port}`)
  await eventually(async () => (await c.restarts()) >= 10, 15_000, '10 informer restarts')
  expect(lines(c.log())).toHaveLength(1)
  const line = JSON.parse(lines(c.log())[0]!)
  expect(line).toMatchObject({ server: `http://127.0.0.1:${port}` })
  expect(line.cause).toContain('insecure-skip-tls-verify: true')
  expect(line.cause).toContain('https://')
}, 30_000)
