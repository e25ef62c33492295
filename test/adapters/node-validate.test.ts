// `kortex --version` and `kortex validate`, as an operator runs them before
// shipping a config: nothing starts, the messages are the ones a reload
// prints, and the exit code says whether the config would load.
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { buildConfig } from '../../src/config/source.ts'
import { echoConfig } from '../helpers/configs.ts'

const bin = new URL('../../bin/kortex.js', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'kortex-validate-cli-'))
const kortex = (...args: string[]) => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, PORT: '0' }, timeout: 20_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}
const write = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

it('--version prints the package version and starts nothing', () => {
  const r = kortex('--version')
  expect(r.code).toBe(0)
  expect(r.out.trim()).toBe(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version)
  expect(r.err).not.toContain('listening')
})

it('a good config: exit 0 with what it holds; warnings as a reload prints them', () => {
  const good = write('good.yaml', echoConfig('m', '{ auth: { keys: [ { name: app, keyEnv: KORTEX_VALIDATE_UNSET_KEY } ] } }'))
  const r = kortex('validate', good)
  expect(r.code).toBe(0)
  expect(r.out).toContain(`kortex: ${good}: valid: 1 routes, 1 backends`)
  expect(r.err).toContain('kortex: warning: API key "app": environment variable KORTEX_VALIDATE_UNSET_KEY is not set; the key is disabled')
  expect(r.err + r.out).not.toContain('listening')
})

it('a broken config: exit 1 and every problem, word for word what the gateway prints when it refuses it', async () => {
  const text = `apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: b }
spec: { type: grpc }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r }
spec: { defaultBackend: { name: nowhere, weight: 101 } }
`
  const bad = write('bad.yaml', text)
  const refused = await buildConfig(text, () => undefined, bad).then(() => '', (e: Error) => e.message)
  expect(refused).toContain('spec.type')
  const r = kortex('validate', bad)
  expect(r.code).toBe(1)
  expect(r.err).toContain(refused)
  // A reference to a backend that is not there is caught too (it only shows when the documents are compiled).
  const dangling = write('dangling.yaml', 'apiVersion: gateway.kortex.io/v1alpha1\nkind: InferenceRoute\nmetadata: { name: r }\nspec: { defaultBackend: { name: nope } }\n')
  const d = kortex('validate', dangling)
  expect(d.code).toBe(1)
  expect(d.err).toContain('document 1, InferenceRoute r: spec.defaultBackend.name: backend "nope" is not defined')
  const missing = kortex('validate', join(dir, 'nowhere.yaml'))
  expect(missing.code).toBe(1)
  expect(missing.err).toContain('config file not found')
})

it('a directory of manifests is one config (references across files); other kinds in it are skipped', () => {
  const k8s = join(dir, 'manifests')
  mkdirSync(k8s)
  writeFileSync(
    join(k8s, 'backends.yaml'),
    `apiVersion: v1
kind: Secret
metadata: { name: openai-credentials, namespace: apps }
stringData: { api-key: sk-test }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: echo, namespace: apps }
spec: { type: demo }
`,
  )
  writeFileSync(join(k8s, 'routes.yaml'), 'apiVersion: gateway.kortex.io/v1alpha1\nkind: InferenceRoute\nmetadata: { name: chat, namespace: apps }\nspec: { models: [gpt-4o], defaultBackend: { name: echo } }\n')
  const ok = kortex('validate', k8s)
  expect(ok.code).toBe(0)
  expect(ok.out).toContain(`backends.yaml: 1 resource of other kinds not checked`)
  expect(ok.out).toContain(`kortex: ${k8s}: valid: 1 routes, 1 backends`)
  // A problem in one file of the directory is told against that file, with its own document number.
  writeFileSync(join(k8s, 'routes.yaml'), 'apiVersion: gateway.kortex.io/v1alpha1\nkind: InferenceRoute\nmetadata: { name: chat, namespace: apps }\nspec: { models: [gpt-4o], defaultBackend: { name: gone } }\n')
  const bad = kortex('validate', k8s)
  expect(bad.code).toBe(1)
  expect(bad.err).toContain(`${join(k8s, 'routes.yaml')}: 1 problem\n  - document 1, InferenceRoute chat: spec.defaultBackend.name: backend "gone" is not defined`)
})
