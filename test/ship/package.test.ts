// The package as it ships, following the Dockerfile's own steps (there is no
// Docker engine here): `npm pack` (which builds dist/), the tarball unpacked
// and its production dependencies installed from the lockfile with
// --omit=dev, the directory made read-only, then the gateway and the
// controller started from it with the image's ENTRYPOINT and ENV as an
// unprivileged user, an OpenAI SDK chat and stream served through them, the
// HEALTHCHECK run against each, and nothing written under the directory.
// Then `npx kortex-gateway --config kortex.yaml` from the same tarball, as a
// user runs it once the package is published.
import { execFileSync, type ChildProcess } from 'node:child_process'
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { FakeApiServer } from '../k8s/fake-apiserver.ts'
import { G } from '../k8s/helpers.ts'
import { echoConfig } from '../helpers/configs.ts'
import { serve as serveCommand, stopAll } from '../helpers/serve.ts'

const root = new URL('../../', import.meta.url).pathname
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const work = mkdtempSync(join(tmpdir(), 'kortex-ship-'))
const app = join(work, 'app')
const children: ChildProcess[] = []
// As the image's USER: an unprivileged user, so the read-only directory is really read-only (root ignores modes).
const asUser: { uid?: number; gid?: number } = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}
let tarball: string
let api: FakeApiServer

/** The Dockerfile's instructions of its last stage (the image), continuation lines joined. */
const image = (() => {
  const lines = readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ').split('\n').filter((l) => l.trim() && !l.startsWith('#'))
  const stages = lines.map((l) => l.split(/\s+/)[0]).lastIndexOf('FROM')
  const last = lines.slice(stages)
  const all = (op: string) => last.filter((l) => l.startsWith(`${op} `)).map((l) => l.slice(op.length + 1).trim())
  const env = Object.fromEntries(all('ENV').flatMap((e) => e.split(/\s+/).map((kv) => kv.split('=') as [string, string])))
  return { from: all('FROM')[0]!, run: all('RUN'), user: all('USER')[0]!, env, entrypoint: JSON.parse(all('ENTRYPOINT')[0]!) as string[], healthcheck: JSON.parse(all('HEALTHCHECK')[0]!.split(' CMD ')[1]!) as string[] }
})()
/** The image's ENTRYPOINT, pointed at this install instead of /app. */
const entrypoint = () => image.entrypoint.map((a) => a.replace(/^\/app\//, `${app}/`))
const healthy = (port: string) => {
  try {
    execFileSync(image.healthcheck[0]!, image.healthcheck.slice(1), { env: { ...process.env, PORT: port }, stdio: 'ignore', timeout: 5000 })
    return true
  } catch {
    return false
  }
}

/** Every path under dir with its size and mtime: what a run may not change. */
function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((p) => {
      const s = lstatSync(join(dir, p))
      return `${p} ${s.size} ${s.mtimeMs}`
    })
    .sort()
}

/** Starts a command from the work directory; resolves with the URL it prints once it serves. */
const serve = (cmd: string, args: string[], env: Record<string, string>, opts: { user?: boolean } = {}) =>
  serveCommand(cmd, args, env, { cwd: work, children, as: opts.user ? asUser : undefined })

async function chatAndStream(url: string, model: string) {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused' })
  const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'ping' }] })
  expect(r.choices[0]!.message.content).toContain('You said: ping')
  const s = await client.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: 'one two' }] })
  let text = ''
  for await (const c of s) text += c.choices[0]?.delta.content ?? ''
  expect(text).toContain('You said: one two')
}

beforeAll(() => {
  // The Dockerfile's steps: pack (prepack runs npm run build), unpack, install production dependencies from the lockfile.
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))
  tarball = join(work, packed[0].filename)
  mkdirSync(app)
  execFileSync('tar', ['-xzf', tarball, '-C', app, '--strip-components=1'])
  cpSync(join(root, 'package-lock.json'), join(app, 'package-lock.json'))
  execFileSync('npm', ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: app, stdio: 'ignore' })
  execFileSync('chmod', ['-R', 'a-w', app])
  chmodSync(work, 0o755) // mkdtemp's 0700 would keep the unprivileged user out of everything
  writeFileSync(join(work, 'kortex.yaml'), echoConfig('shipped-model'))
}, 120_000)

afterAll(async () => {
  stopAll(children)
  await api?.stop().catch(() => {})
  // npx's own install of the tarball, under the npm cache.
  const npx = join(homedir(), '.npm/_npx')
  for (const d of existsSync(npx) ? readdirSync(npx, { withFileTypes: true }).filter((d) => d.isDirectory()) : []) {
    const manifest = join(npx, d.name, 'package.json')
    if (existsSync(manifest) && readFileSync(manifest, 'utf8').includes(work)) rmSync(join(npx, d.name), { recursive: true, force: true })
  }
  execFileSync('chmod', ['-R', 'u+w', work])
  rmSync(work, { recursive: true, force: true })
})

it('the image: Node 20, production dependencies only, a non-root user, HOST=0.0.0.0, the Node flags npm start uses', () => {
  expect(image.from).toMatch(/^node:20-(slim|alpine)$/)
  expect(image.run.join('\n')).toContain('npm ci --omit=dev')
  expect(Number(image.user.split(':')[0])).toBeGreaterThan(0)
  expect(image.env.HOST).toBe('0.0.0.0')
  expect(image.entrypoint.join(' ')).toBe(pkg.scripts.start.replace('bin/kortex.js', '/app/bin/kortex.js'))
})

it('the package holds the built command and no sources; production installs no build tools', () => {
  const files = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))[0].files.map((f: { path: string }) => f.path)
  expect(files).toContain('bin/kortex.js')
  expect(files).toContain('dist/kortex.mjs')
  expect(files.filter((f: string) => f.endsWith('.ts'))).toEqual([])
  expect(pkg.bin).toMatchObject({ kortex: 'bin/kortex.js', [pkg.name]: 'bin/kortex.js' })
  for (const tool of ['esbuild', 'tsx', 'typescript']) expect(readdirSync(join(app, 'node_modules'))).not.toContain(tool)
})

it('from the read-only install, as a non-root user: --version, validate, a gateway serving the SDK, and a controller a second gateway follows', async () => {
  const before = tree(app)
  const bin = join(app, 'bin/kortex.js')
  expect(execFileSync(process.execPath, [bin, '--version'], { encoding: 'utf8', ...asUser }).trim()).toBe(pkg.version)
  expect(execFileSync(process.execPath, [bin, 'validate', join(work, 'kortex.yaml')], { encoding: 'utf8', ...asUser })).toContain('valid: 1 routes, 1 backends')

  const [node, ...args] = entrypoint()
  const gw = await serve(node!, [...args, '--config', join(work, 'kortex.yaml')], image.env, { user: true })
  expect(gw.url).toMatch(/^http:\/\/0\.0\.0\.0:/)
  expect((await fetch(`${gw.url}/readyz`)).status).toBe(200)
  await chatAndStream(gw.url, 'shipped-model')
  expect(healthy(new URL(gw.url).port)).toBe(true)

  // The controller from the same install, against a fake Kubernetes API server; a gateway pulls its config from it.
  api = new FakeApiServer()
  await api.start()
  api.apply({ apiVersion: G, kind: 'GatewayConfig', metadata: { name: 'g', namespace: 'apps' }, spec: { auth: { open: true }, accessLog: false } })
  api.apply({ apiVersion: G, kind: 'InferenceBackend', metadata: { name: 'echo', namespace: 'apps' }, spec: { type: 'demo' } })
  api.apply({ apiVersion: G, kind: 'InferenceRoute', metadata: { name: 'r', namespace: 'apps' }, spec: { models: ['cluster-model'], defaultBackend: { name: 'echo' } } })
  const kube = join(work, 'kubeconfig')
  writeFileSync(kube, `apiVersion: v1\nkind: Config\nclusters: [{name: f, cluster: {server: "${api.url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: f, context: {cluster: f, user: u}}]\ncurrent-context: f\n`)
  chmodSync(kube, 0o644)
  const ctl = await serve(node!, [...args, 'controller'], { ...image.env, KUBECONFIG: kube, POD_NAMESPACE: 'apps', KORTEX_CONTROLLER_TOKENS: 'ship-token', KORTEX_KSERVE: '0' }, { user: true })
  expect(healthy(new URL(ctl.url).port)).toBe(true)
  const follower = await serve(node!, [...args, '--config-url', `${ctl.url}/config`], { ...image.env, KORTEX_CONFIG_TOKEN: 'ship-token' }, { user: true })
  await chatAndStream(follower.url, 'cluster-model')
  await api.stop()
  expect(healthy(String(new URL(api.url).port))).toBe(false) // nothing listens there now

  expect(tree(app)).toEqual(before)
}, 60_000)

it(`npx ${pkg.name} --config kortex.yaml runs from the packed tarball`, async () => {
  const gw = await serve('npx', ['--yes', '--prefer-offline', `--package=${tarball}`, pkg.name, '--config', 'kortex.yaml'], { npm_config_loglevel: 'error' })
  expect(gw.output()).toContain('Config: kortex.yaml')
  await chatAndStream(gw.url, 'shipped-model')
}, 90_000)
