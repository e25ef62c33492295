// The `kortex` command as a new user runs it.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { echoConfig } from '../helpers/configs.ts'
import { afterEach, expect, it } from 'vitest'

const bin = new URL('../../bin/kortex.js', import.meta.url).pathname
let child: ChildProcess | undefined

afterEach(() => {
  child?.kill('SIGTERM')
  child = undefined
})

function run(args: string[], env: Record<string, string> = {}): Promise<{ url: string; output: () => string; exit: Promise<number | null> }> {
  child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const exit = new Promise<number | null>((r) => child!.on('exit', r))
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m && /Try it:[\s\S]*-d '/.test(out)) resolve({ url: m[1]!, output: () => out, exit })
    }
    child!.stdout!.on('data', onData)
    child!.stderr!.on('data', onData)
    exit.then((code) => reject(Object.assign(new Error(`exited ${code}: ${out}`), { out, code })))
  })
}

it('with no config: the demo backend answers the SDK, and the printed curl line works as printed', async () => {
  const { url, output } = await run([])
  expect(output()).toMatch(/DEMO backend/)
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'anything' })
  const r = await client.chat.completions.create({ model: 'kortex-demo', messages: [{ role: 'user', content: 'ping' }] })
  expect(r.choices[0]!.message.content).toBe('[kortex demo backend] You said: ping')
  const s = await client.chat.completions.create({ model: 'kortex-demo', stream: true, messages: [{ role: 'user', content: 'one two' }] })
  let text = ''
  for await (const c of s) text += c.choices[0]?.delta.content ?? ''
  expect(text).toBe('[kortex demo backend] You said: one two')
  // Run the printed curl line through a shell, as a user pastes it.
  const curl = output().split('Try it:\n')[1]!.split('\n\n')[0]!.trim()
  const { execSync } = await import('node:child_process')
  const body = JSON.parse(execSync(curl, { shell: '/bin/bash', encoding: 'utf8' }))
  expect(body.choices[0].message.content).toContain('You said: Hello, Kortex')
})

it('--config serves a file; KORTEX_CONFIG does the same', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'kortex-cli-')), 'k.yaml')
  writeFileSync(file, echoConfig('from-file', '{ auth: { keys: [ { name: me, key: kx-cli-test-key } ] } }'))
  const a = await run(['--config', file])
  expect(a.output()).toContain(`Config: ${file}`)
  expect((await fetch(`${a.url}/v1/models`)).status).toBe(401)
  const models = await (await fetch(`${a.url}/v1/models`, { headers: { authorization: 'Bearer kx-cli-test-key' } })).json()
  expect(models.data.map((m: { id: string }) => m.id)).toEqual(['from-file'])
  child!.kill()
  const b = await run([], { KORTEX_CONFIG: file })
  expect(b.output()).toContain(`Config: ${file}`)
})

it('a broken config at start-up exits non-zero and prints every problem', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'kortex-cli-')), 'bad.yaml')
  writeFileSync(file, `apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r }
spec: { defaultBackend: { name: nowhere, weight: 101 } }
`)
  const err = await run(['--config', file]).catch((e) => e)
  expect(err.code).toBe(1)
  expect(err.out).toContain('spec.defaultBackend.weight')
  const missing = await run(['--config', '/nonexistent/k.yaml']).catch((e) => e)
  expect(missing.out).toContain('config file not found')
})
