// `kortex --controller`: the controller inside the gateway's process (one
// Deployment for small clusters), reading the kubeconfig like kubectl does.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startKortex, type Kortex } from '../../adapters/node/start.ts'
import { FakeApiServer, PATHS } from './fake-apiserver.ts'
import { eventually, G } from './helpers.ts'

let api: FakeApiServer
let gw: Kortex | undefined
const notices: string[] = []

beforeAll(async () => {
  api = new FakeApiServer()
  await api.start()
  const dir = mkdtempSync(join(tmpdir(), 'kortex-kubeconfig-'))
  const file = join(dir, 'config')
  writeFileSync(file, `apiVersion: v1\nkind: Config\nclusters: [{name: f, cluster: {server: "${api.url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: f, context: {cluster: f, user: u, namespace: apps}}]\ncurrent-context: f\n`)
  process.env.KUBECONFIG = file
  api.apply({ apiVersion: G, kind: 'GatewayConfig', metadata: { name: 'g', namespace: 'apps' }, spec: { auth: { open: true }, accessLog: false } })
  api.apply({ apiVersion: G, kind: 'InferenceBackend', metadata: { name: 'echo', namespace: 'apps' }, spec: { type: 'demo' } })
  api.apply({ apiVersion: G, kind: 'InferenceRoute', metadata: { name: 'r', namespace: 'apps' }, spec: { models: ['echo'], defaultBackend: { name: 'echo' } } })
})

afterAll(async () => {
  await gw?.close()
  await api.stop()
  delete process.env.KUBECONFIG
})

const ask = async (model: string, key?: string) => {
  const headers = { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) }
  const r = await fetch(`${gw!.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'ping' }] }) })
  return { status: r.status, body: (await r.json()) as any }
}

it('serves the cluster config from a controller in its own process, follows changes, and writes status', async () => {
  gw = await startKortex({ controller: {}, port: 0, log: { info() {}, warn() {}, error() {} } as never, notice: (l) => notices.push(l) })
  await gw.ready
  expect(gw.usingDefaultConfig).toBe(false)
  const r = await ask('echo')
  expect(r.status).toBe(200)
  expect(r.body.choices[0].message.content).toContain('ping')
  expect(notices.some((n) => /embedded controller serving http:\/\/127\.0\.0\.1:\d+\/config/.test(n))).toBe(true)
  api.apply({ apiVersion: G, kind: 'InferenceRoute', metadata: { name: 'r', namespace: 'apps' }, spec: { models: ['echo', 'echo-2'], defaultBackend: { name: 'echo' } } })
  await eventually(async () => (await ask('echo-2')).status === 200)
  await eventually(() => api.get(PATHS.routes, 'apps', 'r')?.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True')
  await gw.close()
  gw = undefined
  await eventually(() => api.openWatches === 0, 3000, "watches closed") // the controller stopped with the gateway
})

it('KORTEX_GATEWAYCONFIG_NAMESPACES names the namespaces whose GatewayConfig it accepts, as for the standalone controller', async () => {
  api.apply({ apiVersion: G, kind: 'GatewayConfig', metadata: { name: 'g', namespace: 'platform' }, spec: { auth: { keys: [{ name: 'p', key: 'kx-platform' }] }, accessLog: false } })
  process.env.KORTEX_GATEWAYCONFIG_NAMESPACES = 'platform'
  try {
    gw = await startKortex({ controller: {}, port: 0, log: { info() {}, warn() {}, error() {} } as never, notice: () => {} })
    await gw.ready
  } finally {
    delete process.env.KORTEX_GATEWAYCONFIG_NAMESPACES
  }
  // The platform's GatewayConfig (a key) is the one in force, not the context namespace's open one.
  expect((await ask('echo')).status).toBe(401)
  expect((await ask('echo', 'kx-platform')).status).toBe(200)
  const accepted = (ns: string) => api.get(PATHS.gatewayconfigs, ns, 'g')?.status?.conditions?.find((c: any) => c.type === 'Accepted')
  await eventually(() => accepted('apps')?.reason === 'NamespaceNotAllowed')
  expect(accepted('platform')?.status).toBe('True')
})
