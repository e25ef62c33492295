// `kortex --version` and `kortex validate`, as an operator runs them before
// shipping a config: nothing starts, the messages are the ones a reload
// prints, and the exit code says whether the config would load.
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { buildConfig } from '../../src/config/source.ts'
import { echoConfig } from '../helpers/configs.ts'

const bin = new URL('../../bin/kortex.js', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'kortex-validate-cli-'))
const run = (env: NodeJS.ProcessEnv, args: string[]) => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...env, PORT: '0' }, timeout: 20_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}
const kortex = (...args: string[]) => run(process.env, args)
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
stringData: { api-key: test-test }
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

describe('native providers: a missing credential is told, backend by backend, with what to set', () => {
  // Without url: each gets its provider's official endpoint (src/config/schema.ts).
  const natives = `apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: claude-bedrock }
spec: { type: external, external: { provider: bedrock, region: us-east-1, model: anthropic.claude-3-haiku-20240307-v1:0 } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: gemini-flash }
spec: { type: external, external: { provider: gemini, model: gemini-2.0-flash, apiKeySecret: { name: gemini-credentials, key: api-key } } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: vertex-flash }
spec: { type: external, external: { provider: vertex, project: my-project, location: us-central1, model: gemini-2.0-flash, apiKeySecret: { name: vertex-sa, key: key.json } } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: vertex-gke }
spec: { type: external, external: { provider: vertex, project: my-project, location: global, model: gemini-2.0-flash } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: command-r }
spec: { type: external, external: { provider: cohere, model: command-r, apiKeySecret: { name: cohere-credentials, key: api-key } } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: mistral-small }
spec: { type: external, external: { provider: mistral, model: mistral-small-latest, apiKeySecret: { name: mistral-credentials, key: api-key } } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: chat }
spec: { defaultBackend: { name: claude-bedrock } }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: gateway }
spec: { auth: { open: true } }
`
  // The machine's own AWS identity (keys or IRSA) must not stand in for the one the test leaves out.
  const bare = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !/_(API_KEY|KEY_JSON)$/.test(k)))
  const lines = (text: string) => text.split('\n').filter(Boolean)

  it('each backend without its credential gets one warning naming the variable (or Secret) to set; exit 0, as the gateway would start', () => {
    const path = write('natives.yaml', natives)
    const r = run(bare, ['validate', path])
    expect(r.code).toBe(0)
    expect(lines(r.err)).toEqual([
      'kortex: warning: backend "claude-bedrock": AWS credentials missing (set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); requests to it will fail with 503',
      'kortex: warning: backend "gemini-flash": secret gemini-credentials/api-key not found (set GEMINI_CREDENTIALS_API_KEY); requests to it will fail with 503',
      'kortex: warning: backend "vertex-flash": secret vertex-sa/key.json not found (set VERTEX_SA_KEY_JSON); requests to it will fail with 503',
      'kortex: warning: backend "command-r": secret cohere-credentials/api-key not found (set COHERE_CREDENTIALS_API_KEY); requests to it will fail with 503',
      'kortex: warning: backend "mistral-small": secret mistral-credentials/api-key not found (set MISTRAL_CREDENTIALS_API_KEY); requests to it will fail with 503',
    ])
    expect(lines(r.out)).toEqual([
      'kortex: note: backend "vertex-gke": no apiKeySecret, so Vertex AI tokens come from the metadata server (GKE Workload Identity, a Compute Engine VM); elsewhere give apiKeySecret a service-account key',
      `kortex: ${path}: valid: 1 routes, 6 backends`,
    ])
  })

  it('with every variable set: no warning at all', () => {
    const path = write('natives-set.yaml', natives)
    // Made-up values, not credentials; a Vertex secret must read as a service-account key file.
    const serviceAccount = JSON.stringify({ type: 'service_account', client_email: 'kortex-test@my-project.iam.gserviceaccount.com', private_key: 'not a real key' })
    const r = run({ ...bare, AWS_ACCESS_KEY_ID: 'test-access-key-id', AWS_SECRET_ACCESS_KEY: 'test-secret', GEMINI_CREDENTIALS_API_KEY: 'test-gemini', VERTEX_SA_KEY_JSON: serviceAccount, COHERE_CREDENTIALS_API_KEY: 'test-cohere', MISTRAL_CREDENTIALS_API_KEY: 'test-mistral' }, ['validate', path])
    expect(r.code).toBe(0)
    expect(r.err).toBe('')
    expect(r.out).toContain(`kortex: ${path}: valid: 1 routes, 6 backends`)
  })

  it('a Vertex secret that is not a service-account key is told as such', () => {
    const path = write('natives-badsa.yaml', natives)
    const r = run({ ...bare, VERTEX_SA_KEY_JSON: 'an API key pasted by mistake' }, ['validate', path])
    expect(lines(r.err)).toContain('kortex: warning: backend "vertex-flash": secret vertex-sa/key.json is not JSON (expected a service-account key file); requests to it will fail with 503')
  })

  it('bedrock without url: the official endpoint is assumed, not "url is required"', () => {
    const path = write('bedrock-only.yaml', natives.split('---\n')[0] + '---\n' + natives.split('---\n').slice(-2).join('---\n'))
    const r = run({ ...bare, AWS_ACCESS_KEY_ID: 'test-access-key-id', AWS_SECRET_ACCESS_KEY: 'test-secret' }, ['validate', path])
    expect(r.code).toBe(0)
    expect(r.err).toBe('')
    expect(r.out).toContain('valid: 1 routes, 1 backends')
  })
})
