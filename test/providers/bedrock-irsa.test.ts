// IRSA on Node: no keys, AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE set, so
// the provider reads the mounted token, exchanges it with STS, signs with the
// temporary keys (the Bedrock upstream checks the signature) and exchanges
// again only when they come near expiry, reading the token anew each time.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { buildConfig } from '../../src/config/source.ts'
import { providers } from '../../src/providers/index.ts'
import { setWebIdentityTokenReader } from '../../src/providers/bedrock/credentials.ts'
import { REGION, startBedrockUpstream, startStsUpstream, type BedrockUpstream, type StsUpstream } from '../upstreams/bedrock.ts'

let up: BedrockUpstream
let sts: StsUpstream
let token = 'eyJhbGciOiJSUzI1NiJ9.first-token.sig'
const tokenFile = join(mkdtempSync(join(tmpdir(), 'irsa-')), 'token')

beforeAll(async () => {
  writeFileSync(tokenFile, token + '\n')
  up = await startBedrockUpstream()
  sts = await startStsUpstream(() => token)
  setWebIdentityTokenReader((p) => readFile(p, 'utf8'))
})
afterAll(async () => {
  setWebIdentityTokenReader(undefined)
  await up?.close()
  await sts?.close()
})

async function backend(role: string) {
  const env: Record<string, string> = { AWS_ROLE_ARN: role, AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile, AWS_STS_ENDPOINT: `${sts.url}/` }
  const c = await buildConfig(
    `apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: br }
spec:
  type: external
  external: { provider: bedrock, url: "${up.base('ok')}", region: ${REGION}, model: "amazon.nova-lite-v1:0" }
`,
    (n) => env[n],
  )
  const b = c.backends.get('default/br')!
  expect(b.missingSecret).toBeUndefined()
  return b
}

const chat = async (b: Awaited<ReturnType<typeof backend>>) => {
  const r = await providers.bedrock.send({ backend: b, op: 'chat', body: { model: 'amazon.nova-lite-v1:0', messages: [{ role: 'user', content: 'hi' }] }, stream: false, signal: new AbortController().signal, fetch, requestId: 'r' })
  return r.kind === 'json' ? (r.body as any).choices[0].message.content : undefined
}

it('exchanges the mounted token once, and signs with the keys STS issued', async () => {
  sts.lifetimeMs = 3600_000
  const b = await backend('arn:aws:iam::123456789012:role/kortex-long')
  const before = sts.calls.length
  expect(await chat(b)).toBe('Hello from ok')
  expect(await chat(b)).toBe('Hello from ok')
  expect(sts.calls.length - before).toBe(1)
  const form = sts.calls.at(-1)!
  expect([form.get('RoleArn'), form.get('RoleSessionName'), form.get('WebIdentityToken')]).toEqual(['arn:aws:iam::123456789012:role/kortex-long', 'kortex-br', token])
  expect(up.last!.signed).toBe(true)
})

it('keys within five minutes of expiry are exchanged again, with the token as the kubelet rotated it', async () => {
  sts.lifetimeMs = 4 * 60_000
  const b = await backend('arn:aws:iam::123456789012:role/kortex-short')
  const before = sts.calls.length
  expect(await chat(b)).toBe('Hello from ok')
  token = 'eyJhbGciOiJSUzI1NiJ9.rotated-token.sig'
  writeFileSync(tokenFile, token)
  expect(await chat(b)).toBe('Hello from ok')
  expect(sts.calls.length - before).toBe(2)
  expect(sts.calls.at(-1)!.get('WebIdentityToken')).toBe(token)
})

it('a token STS refuses is an auth failure of this backend (another may serve)', async () => {
  const b = await backend('arn:aws:iam::123456789012:role/kortex-refused')
  writeFileSync(tokenFile, 'not-the-token')
  const err = await chat(b).catch((e) => e)
  expect(err.cls).toBe('auth')
  expect(err.message).toContain('InvalidIdentityToken')
  writeFileSync(tokenFile, token)
})
