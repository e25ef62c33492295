// A token limit is reserved defaultMaxTokens for every request that sets no max_tokens: a limit
// below that answers every such request with a 429. The operator is warned when the config loads
// (a warning, not a refusal: clients that set max_tokens still pass), and the warning is right.
import { expect, it } from 'vitest'
import { buildConfig } from '../../src/config/source.ts'
import { backendsYaml, fakeFleet, routeYaml, testGateway } from '../helpers/fake-fleet.ts'

const yaml = (tokensPerMinute: number) => `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: { auth: { open: true }, accessLog: false, limits: { defaultMaxTokens: 1024 } }
---
${backendsYaml(['a'])}${routeYaml(`  models: [m]\n  defaultBackend: { name: a }\n  rateLimit: { tokensPerMinute: ${tokensPerMinute} }\n`)}`

it('a route whose tokensPerMinute is below defaultMaxTokens is named in a warning at load, and does refuse requests without max_tokens', async () => {
  const small = await buildConfig(yaml(500), () => undefined)
  expect(small.warnings).toEqual([
    'route "r": tokensPerMinute 500 is below limits.defaultMaxTokens (1024), which a request without max_tokens reserves; every such request will get 429. Lower limits.defaultMaxTokens, or raise the limit',
  ])
  const gw = await testGateway(yaml(500), fakeFleet())
  expect((await gw.chat()).status).toBe(429)
  expect((await gw.chat({}, { max_tokens: 50 })).status).toBe(200)
  expect((await buildConfig(yaml(5000), () => undefined)).warnings).toEqual([])
})
