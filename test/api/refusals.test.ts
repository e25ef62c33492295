// Requests refused before any backend is tried leave a trace an operator
// can act on: the access log names the request id, the principal (when the
// key is known) and the reason; a flood of the same refusal is one line
// and then a count, not a line per request.
import { describe, expect, it } from 'vitest'
import { connect } from 'node:net'
import type { Logger } from '../../src/telemetry/log.ts'
import { listen } from '../../adapters/node/server.ts'
import { backendsYaml, fakeClock, fakeFleet, keyedGateway, routeYaml, testGateway } from '../helpers/fake-fleet.ts'

const yaml =
  keyedGateway(['{ name: batch, key: kx-batch-key-0001, limits: { requestsPerMinute: 2 } }']).replace('accessLog: false', 'accessLog: true') +
  `---\n${backendsYaml(['a'])}${routeYaml('  models: [m]\n  defaultBackend: { name: a }\n')}`

async function setup() {
  const records: Record<string, any>[] = []
  const log: Logger = { record: (r) => records.push(r), warn() {}, error() {} }
  const clock = fakeClock()
  const gw = await testGateway(yaml, fakeFleet(), clock, { log })
  const refusals = () => records.filter((r) => r.type === 'access' && r.status >= 400)
  return { gw, clock, records, refusals }
}

describe('refusals in the access log', () => {
  it('a brute-forced key: the first refusal in full, then one summary line with the count', async () => {
    const { gw, clock, refusals } = await setup()
    const ids: string[] = []
    for (let i = 0; i < 50; i++) {
      const res = await gw.chat({ authorization: `Bearer guess-${i}-xxxxxxxx`, 'x-request-id': `guess-${i}` })
      expect(res.status).toBe(401)
      ids.push(res.headers.get('x-request-id')!)
    }
    expect(refusals()).toEqual([expect.objectContaining({ requestId: 'guess-0', status: 401, error: 'invalid_api_key', path: '/v1/chat/completions', refused: 'Incorrect API key provided.' })])
    expect(refusals()[0]!.principal).toBeUndefined()
    clock.advance(10_000)
    await gw.chat({ authorization: 'Bearer guess-50-xxxxxxxx', 'x-request-id': 'guess-50' })
    expect(refusals().slice(1)).toEqual([
      expect.objectContaining({ status: 401, error: 'invalid_api_key', refusedMore: 49, lastRequestId: 'guess-49' }),
      expect.objectContaining({ requestId: 'guess-50', status: 401 }),
    ])
  })

  it('a rate-limit storm: one line naming the key, and the count when the gateway flushes', async () => {
    const { gw, refusals } = await setup()
    const key = { authorization: 'Bearer kx-batch-key-0001' }
    for (let i = 0; i < 2; i++) expect((await gw.chat(key)).status).toBe(200)
    for (let i = 0; i < 20; i++) expect((await gw.chat(key, { model: 'm' })).status).toBe(429)
    expect(refusals()).toEqual([expect.objectContaining({ status: 429, error: 'rate_limit_exceeded', principal: 'batch' })])
    expect(refusals()[0]!.refused).toContain("API key 'batch'")
    await gw.flush()
    expect(refusals()[1]).toMatchObject({ status: 429, error: 'rate_limit_exceeded', principal: 'batch', refusedMore: 19 })
  })

  it('different reasons are different lines: a bad body and an unknown model from a known key', async () => {
    const { gw, refusals } = await setup()
    const key = { authorization: 'Bearer kx-batch-key-0001', 'content-type': 'application/json' }
    await gw.call('/v1/chat/completions', { method: 'POST', headers: key, body: '{"model":' })
    await gw.chat(key, { model: 'nope' })
    expect(refusals()).toEqual([
      expect.objectContaining({ status: 400, error: 'invalid_json', principal: 'batch' }),
      expect.objectContaining({ status: 404, error: 'model_not_found', principal: 'batch' }),
    ])
    expect(refusals().every((r) => typeof r.requestId === 'string' && r.requestId.length > 0)).toBe(true)
  })
})

describe("the Node server's own refusals", () => {
  it('a scanner sending requests the server cannot parse leaves a trace too: the first in full, the rest counted', async () => {
    const { gw, clock, refusals } = await setup()
    const srv = await listen(gw, 0, '127.0.0.1')
    const send = (text: string) =>
      new Promise<string>((resolve) => {
        let out = ''
        const s = connect(srv.port, '127.0.0.1', () => s.write(text))
        s.on('data', (d) => (out += d))
        s.on('close', () => resolve(out))
        s.on('error', () => resolve(out))
      })
    try {
      for (let i = 0; i < 5; i++) expect(await send(`GARBAGE /${i} HTTP/1.1\r\n\r\n`)).toMatch(/^HTTP\/1\.1 400/)
      expect(refusals()).toEqual([expect.objectContaining({ status: 400, error: 'malformed_request' })])
      clock.advance(10_000)
      gw.flush()
      expect(refusals()[1]).toEqual(expect.objectContaining({ status: 400, error: 'malformed_request', refusedMore: 4 }))
    } finally {
      await srv.close()
    }
  })
})
