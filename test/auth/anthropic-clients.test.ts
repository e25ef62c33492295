// Anthropic clients present their key as `x-api-key` (curl examples, older SDKs,
// Claude Code with ANTHROPIC_API_KEY) or as a Bearer token (@anthropic-ai/sdk 1.x).
import { expect, it } from 'vitest'
import { authenticate, presentedKey } from '../../src/auth/authenticate.ts'
import { buildConfig } from '../../src/config/source.ts'
import { GatewayError } from '../../src/api/errors.ts'

const config = () =>
  buildConfig(
    `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { keys: [{ name: tenant-a, key: test-valid-tenant-a }] } }
`,
    () => undefined,
  )

it('a key sent as x-api-key admits its tenant, and a wrong one is a 401', async () => {
  const c = await config()
  expect((await authenticate(c, new Headers({ 'x-api-key': 'test-valid-tenant-a', 'anthropic-version': '2023-06-01' }))).name).toBe('tenant-a')
  await expect(Promise.resolve().then(() => authenticate(c, new Headers({ 'x-api-key': 'test-wrong' })))).rejects.toSatisfy((e) => e instanceof GatewayError && e.status === 401)
})

it('Authorization: Bearer wins over x-api-key when both are sent', () => {
  expect(presentedKey(new Headers({ authorization: 'Bearer test-bearer', 'x-api-key': 'test-header' }))).toBe('test-bearer')
  expect(presentedKey(new Headers({ 'x-api-key': '  test-header  ' }))).toBe('test-header')
})
