// The key lookup under a flood of unknown keys: the tenant whose key is valid
// keeps being admitted at once, and what the gateway remembers stays bounded.
import { afterEach, expect, it, vi } from 'vitest'
import { authenticate, keyCacheSize } from '../../src/auth/authenticate.ts'
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
const bearer = (key: string) => new Headers({ authorization: `Bearer ${key}` })
const refused = async (f: () => unknown) => {
  try {
    await f()
  } catch (err) {
    return err instanceof GatewayError ? err.status : err
  }
  return 'admitted'
}

afterEach(() => vi.restoreAllMocks())

it('10,000 unknown keys do not push out a valid key: it is still admitted without hashing, and memory stays bounded', async () => {
  const c = await config()
  expect((await authenticate(c, bearer('test-valid-tenant-a'))).name).toBe('tenant-a')
  for (let i = 0; i < 10_000; i++) expect(await refused(() => authenticate(c, bearer(`test-guess-${i}-${'x'.repeat(100)}`)))).toBe(401)
  const digest = vi.spyOn(crypto.subtle, 'digest')
  const again = authenticate(c, bearer('test-valid-tenant-a'))
  expect(again).not.toBeInstanceOf(Promise) // answered from the cache, at once
  expect((again as { name: string }).name).toBe('tenant-a')
  expect(digest).not.toHaveBeenCalled()
  const size = keyCacheSize(c)
  expect(size.hits).toBe(1)
  expect(size.misses).toBeLessThanOrEqual(4096)
})

it('a key far longer than any real one is refused without being hashed or remembered', async () => {
  const c = await config()
  const digest = vi.spyOn(crypto.subtle, 'digest')
  for (let i = 0; i < 100; i++) expect(await refused(() => authenticate(c, bearer(`${i}`.padEnd(12_000, 'k'))))).toBe(401)
  expect(digest).not.toHaveBeenCalled()
  expect(keyCacheSize(c)).toEqual({ hits: 0, misses: 0 })
})

it('an unknown key seen again is refused without hashing it again', async () => {
  const c = await config()
  expect(await refused(() => authenticate(c, bearer('test-stale')))).toBe(401)
  const digest = vi.spyOn(crypto.subtle, 'digest')
  expect(await refused(() => authenticate(c, bearer('test-stale')))).toBe(401)
  expect(digest).not.toHaveBeenCalled()
})
