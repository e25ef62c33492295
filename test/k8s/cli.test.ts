// `kortex --config-url` and `kortex --controller` as an operator runs them:
// the real command (bin/kortex.js), the config from a controller.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer as createHttpServer } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { KortexController } from '../../k8s/controller/controller.ts'
import { FakeApiServer } from './fake-apiserver.ts'
import { G, kubeConfigFor } from './helpers.ts'
import { eventually } from '../helpers/kortex.ts'

const bin = new URL('../../bin/kortex.js', import.meta.url).pathname
let child: ChildProcess | undefined
let api: FakeApiServer
let ctl: KortexController
let configUrl: string

beforeAll(async () => {
  api = new FakeApiServer()
  await api.start()
  api.apply({ apiVersion: G, kind: 'GatewayConfig', metadata: { name: 'g', namespace: 'apps' }, spec: { auth: { open: true }, accessLog: false } })
  api.apply({ apiVersion: G, kind: 'InferenceBackend', metadata: { name: 'echo', namespace: 'apps' }, spec: { type: 'demo' } })
  api.apply({ apiVersion: G, kind: 'InferenceRoute', metadata: { name: 'r', namespace: 'apps' }, spec: { models: ['cluster-model'], defaultBackend: { name: 'echo' } } })
  ctl = new KortexController({ kc: kubeConfigFor(api.url), tokens: ['cli-token'], port: 0, host: '127.0.0.1', log: () => {}, kserve: false })
  configUrl = `${await ctl.start()}/config`
})
afterEach(() => {
  child?.kill('SIGTERM')
  child = undefined
})
afterAll(async () => {
  await ctl.stop()
  await api.stop()
})

function run(args: string[], env: Record<string, string> = {}): Promise<{ url: string; output: () => string }> {
  child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m && /Try it:[\s\S]*-d '/.test(out)) resolve({ url: m[1]!, output: () => out })
    }
    child!.stdout!.on('data', onData)
    child!.stderr!.on('data', onData)
    child!.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)))
  })
}

const chat = async (url: string) => {
  const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'cluster-model', messages: [{ role: 'user', content: 'hi' }] }) })
  return { status: r.status, body: (await r.json()) as any }
}

it('kortex --config-url with KORTEX_CONFIG_TOKEN serves the controller\'s config and says where it came from', async () => {
  const { url, output } = await run(['--config-url', configUrl], { KORTEX_CONFIG_TOKEN: 'cli-token' })
  expect(output()).toContain(`Config: pulled from ${configUrl}`)
  expect(output()).toContain('"model":"cluster-model"')
  const r = await chat(url)
  expect(r.status).toBe(200)
  expect(r.body.choices[0].message.content).toContain('You said: hi')
})

it('kortex --controller runs the controller in the same process from the kubeconfig', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kortex-cli-kube-'))
  const file = join(dir, 'config')
  writeFileSync(file, `apiVersion: v1\nkind: Config\nclusters: [{name: f, cluster: {server: "${api.url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: f, context: {cluster: f, user: u, namespace: apps}}]\ncurrent-context: f\n`)
  const { url, output } = await run(['--controller'], { KUBECONFIG: file, KORTEX_KSERVE: '0' })
  expect(output()).toContain('Config: pulled from the embedded controller')
  expect((await chat(url)).status).toBe(200)
}, 60_000)

/** Starts `kortex` and resolves as soon as it says it listens (before it has a config). */
function listening(args: string[], env: Record<string, string> = {}): Promise<{ url: string; output: () => string }> {
  child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  return new Promise((resolve, reject) => {
    child!.stderr!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) resolve({ url: m[1]!, output: () => out })
    })
    child!.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)))
  })
}

it('kortex --config-url with the controller unreachable: listens at once, not ready (/readyz 503, chat 503 not_ready), and logs why with the real cause', async () => {
  const gone = createServer()
  await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r))
  const port = (gone.address() as AddressInfo).port
  await new Promise((r) => gone.close(r))
  const { url, output } = await listening(['--config-url', `http://127.0.0.1:${port}/config`], { KORTEX_CONFIG_TOKEN: 'cli-token' })
  expect(output()).toContain('not ready until its config arrives')
  expect((await fetch(`${url}/healthz`)).status).toBe(200)
  expect((await fetch(`${url}/readyz`)).status).toBe(503)
  const r = await chat(url)
  expect(r.status).toBe(503)
  expect(r.body.error).toMatchObject({ code: 'not_ready', type: 'api_error' })
  await eventually(() => output().includes(`ECONNREFUSED 127.0.0.1:${port}`))
  expect(output()).toContain(`kortex: pulling http://127.0.0.1:${port}/config failed; not ready until it answers; retrying: fetch failed: connect ECONNREFUSED 127.0.0.1:${port}`)
})

it('kortex --config-url: ready, and serving, once the controller first answers', async () => {
  // A controller slow to answer its first request: held until the test has seen the gateway not ready.
  let release!: () => void
  const held = new Promise<void>((r) => (release = r))
  const slow = createHttpServer(async (req, res) => {
    await held
    try {
      const upstream = await fetch(new URL(req.url!, configUrl), { headers: { authorization: req.headers.authorization ?? '' } })
      res.writeHead(upstream.status, Object.fromEntries(upstream.headers))
      res.end(Buffer.from(await upstream.arrayBuffer()))
    } catch {
      res.destroy() // the controller went away at the end of the test, under a long poll
    }
  })
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r))
  try {
    const { url, output } = await listening(['--config-url', `http://127.0.0.1:${(slow.address() as AddressInfo).port}/config`], { KORTEX_CONFIG_TOKEN: 'cli-token' })
    expect((await fetch(`${url}/readyz`)).status).toBe(503)
    expect((await chat(url)).status).toBe(503)
    release()
    await eventually(async () => (await fetch(`${url}/readyz`)).status === 200)
    expect((await chat(url)).status).toBe(200)
    await eventually(() => output().includes('Try it:'))
    expect(output()).toContain('"model":"cluster-model"')
  } finally {
    slow.closeAllConnections()
    slow.close()
  }
})
