// Vertex AI credentials: the service-account JWT, signed with WebCrypto and
// checked by a token endpoint holding only the public key; tokens cached,
// refreshed before expiry, one request at a time; the GKE metadata server.
import { generateKeyPairSync } from 'node:crypto'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { TokenSource, metadataServerTokens, parseServiceAccountKey, serviceAccountTokens, type ServiceAccountKey } from '../../src/providers/gemini/auth.ts'
import { UpstreamError } from '../../src/providers/errors.ts'
import { SCOPE, startGeminiUpstream, type GeminiUpstream } from '../upstreams/gemini.ts'
import { startServer, type TestServer } from '../helpers/server.ts'

let up: GeminiUpstream
let key: ServiceAccountKey
let meta: TestServer
let metaCalls = 0
const f = (input: string | URL | Request, init?: RequestInit) => fetch(input, init)

beforeAll(async () => {
  up = await startGeminiUpstream()
  key = parseServiceAccountKey(up.serviceAccount) as ServiceAccountKey
  meta = await startServer((req, res) => {
    metaCalls++
    if (req.headers['metadata-flavor'] !== 'Google') return res.writeHead(403).end('Missing Metadata-Flavor:Google header.')
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `gke-${metaCalls}`, expires_in: 3599, token_type: 'Bearer' }))
  })
})
afterAll(async () => {
  await up?.close()
  await meta?.close()
})

it('reads a service-account key file and says what is missing from one that is not', () => {
  expect(key).toMatchObject({ client_email: 'kortex@test-project.iam.gserviceaccount.com', token_uri: `${up.url}/token`, private_key_id: 'key-1' })
  expect(parseServiceAccountKey('not json')).toContain('not JSON')
  expect(parseServiceAccountKey('{"client_email":"a@b"}')).toBe('has no "private_key"')
})

it('many callers at once get one token from one verified token request, and later calls reuse it', async () => {
  let now = Date.now()
  const tokens = serviceAccountTokens(key, SCOPE, () => now)
  const before = up.tokenRequests.length
  const got = await Promise.all([1, 2, 3, 4, 5].map(() => tokens.token(f)))
  expect(new Set(got).size).toBe(1)
  now += 30 * 60_000
  expect(await tokens.token(f)).toBe(got[0])
  expect(up.tokenRequests.length).toBe(before + 1)
  expect(up.tokenRequests.at(-1)).toMatchObject({ iss: key.client_email, aud: key.token_uri, scope: SCOPE })
})

it('a token is refreshed before it expires (the old one serving meanwhile) and replaced once expired', async () => {
  let now = Date.now()
  const tokens = serviceAccountTokens(key, SCOPE, () => now)
  const first = await tokens.token(f)
  const before = up.tokenRequests.length
  now += 3600_000 - 60_000 // inside the refresh margin, not yet expired
  expect(await tokens.token(f)).toBe(first)
  await expect.poll(() => up.tokenRequests.length).toBe(before + 1)
  const second = await tokens.token(f)
  expect(second).not.toBe(first)
  now += 3600_000 + 1 // the second one expired: callers wait for a new one
  const third = await tokens.token(f)
  expect(third).not.toBe(second)
  expect(up.tokenRequests.length).toBe(before + 2)
})

it('a refresh that never settles (a Worker cancelled it with its request) is given up after its timeout, and callers get a new token', async () => {
  let now = 1_000_000
  let calls = 0
  const tokens = new TokenSource(async () => {
    if (++calls === 2) return new Promise<never>(() => {}) // the cancelled one: never settles
    return { access_token: `t${calls}`, expires_in: 3600 }
  }, () => now)
  expect(await tokens.token(f)).toBe('t1')
  now += 3600_000 - 60_000 // due for refresh: the background one starts, and hangs
  expect(await tokens.token(f)).toBe('t1')
  now += 5_000 // still within its timeout: nobody starts another
  expect(await tokens.token(f)).toBe('t1')
  expect(calls).toBe(2)
  now += 120_000 // t1 has expired, and the hung refresh is long past its timeout
  expect(await tokens.token(f)).toBe('t3')
  expect(calls).toBe(3)
})

it('a JWT signed with another key is refused by the token endpoint, as an auth failure', async () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } })
  const err = await serviceAccountTokens({ ...key, private_key: privateKey })
    .token(f)
    .catch((e) => e)
  expect(err).toBeInstanceOf(UpstreamError)
  expect(err.cls).toBe('auth')
  expect(err.message).toContain('Invalid JWT Signature')
})

it('a private key that is not PKCS#8 is reported as such', async () => {
  const err = await serviceAccountTokens({ ...key, private_key: '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----' })
    .token(f)
    .catch((e) => e)
  expect(err.message).toContain('PKCS#8')
})

it('on GKE, the metadata server token (asked with Metadata-Flavor: Google), cached', async () => {
  const tokens = metadataServerTokens(`${meta.url}/computeMetadata/v1/instance/service-accounts/default/token`)
  expect(await tokens.token(f)).toBe('gke-1')
  expect(await tokens.token(f)).toBe('gke-1')
  expect(metaCalls).toBe(1)
})
