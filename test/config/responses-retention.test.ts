import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfigText } from '../../src/config/load.ts'
import { buildConfig } from '../../src/config/source.ts'

const gateway = (spec: string) => `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec:
  auth: { open: true }
${spec}`

describe('responses.retention', () => {
  it('keeps stored responses 30 days unless told', async () => {
    const c = await buildConfig(gateway(''), () => undefined)
    expect(c.responses.retentionSeconds).toBe(30 * 86_400)
  })

  it('takes a duration or plain seconds', async () => {
    expect((await buildConfig(gateway('  responses: { retention: 12h }'), () => undefined)).responses.retentionSeconds).toBe(12 * 3600)
    expect((await buildConfig(gateway('  responses: { retention: 90 }'), () => undefined)).responses.retentionSeconds).toBe(90)
  })

  it('refuses a zero or malformed retention, naming the field', () => {
    for (const bad of ['0s', 'soon']) {
      let err: unknown
      try {
        parseConfigText(gateway(`  responses: { retention: ${bad} }`))
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(ConfigError)
      expect((err as ConfigError).problems.map((p) => p.path)).toContain('spec.responses.retention')
    }
  })
})
