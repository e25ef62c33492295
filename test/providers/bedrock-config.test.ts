// A Bedrock backend's settings as an operator writes them: the region (and the
// endpoint from it), credentials from named secrets or the AWS_* environment,
// each missing piece named at load.
import { describe, expect, it } from 'vitest'
import { buildConfig } from '../../src/config/source.ts'
import { ConfigError } from '../../src/config/load.ts'
import { providers } from '../../src/providers/index.ts'

const yaml = (external: string) => `apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: br }
spec:
  type: external
  external: { provider: Bedrock, url: "https://bedrock-runtime.eu-central-1.amazonaws.com", model: "anthropic.claude-3-5-haiku-20241022-v1:0"${external} }
`

const load = (text: string, env: Record<string, string> = {}) => buildConfig(text, (n) => env[n])
const problems = (text: string) =>
  load(text).then(
    () => '',
    (err) => (expect(err).toBeInstanceOf(ConfigError), (err as ConfigError).message),
  )

describe('bedrock backend settings', () => {
  it('needs a region, and says so', async () => {
    expect(await problems(yaml(''))).toMatch(/region.*provider bedrock needs a region/)
    expect(await problems(yaml(', region: "US East"'))).toMatch(/must be an AWS region/)
  })

  it('signs for its region, at its url, with the environment\'s credentials when it names no secrets', async () => {
    const c = await load(yaml(', region: eu-central-1'), { AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: 's' })
    expect(c.backends.get('default/br')).toMatchObject({ provider: 'bedrock', baseUrl: 'https://bedrock-runtime.eu-central-1.amazonaws.com', aws: { region: 'eu-central-1', accessKeyId: 'AKID', secretAccessKey: 's' } })
    expect(c.backends.get('default/br')!.missingSecret).toBeUndefined()
  })

  it('names the missing credentials, and the backend answers 503-unavailable rather than sending unsigned', async () => {
    const c = await load(yaml(', region: us-east-1, accessKeyIdSecret: { name: aws, key: id }, secretAccessKeySecret: { name: aws, key: secret }'), { AWS_ID: 'AKID' })
    const b = c.backends.get('default/br')!
    expect(b.missingSecret).toBe('AWS_SECRET')
    expect(c.warnings.join('\n')).toMatch(/AWS credentials missing \(set AWS_SECRET\)/)
    const err = await providers.bedrock.send({ backend: b, op: 'chat', body: { model: 'm', messages: [{ role: 'user', content: 'hi' }] }, stream: false, signal: new AbortController().signal, fetch: () => Promise.reject(new Error('must not be called')), requestId: 'r' }).catch((e) => e)
    expect(err.cls).toBe('unavailable')
    expect(String(err.message)).toContain('AWS_SECRET')
    expect((await load(yaml(', region: us-east-1'))).backends.get('default/br')!.missingSecret).toBe('AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY')
  })

  it('refuses a key id without its secret key', async () => {
    expect(await problems(yaml(', region: us-east-1, accessKeyIdSecret: { name: aws, key: id }'))).toMatch(/accessKeyIdSecret and secretAccessKeySecret go together/)
  })
})
