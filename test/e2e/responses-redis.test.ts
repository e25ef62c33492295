// Stored responses across a fleet: two Kortex servers sharing one Redis (a
// redis-server of this test's own). A turn answered by one replica is
// continued, retrieved and deleted through the other, and only by the key
// that made it.
import type { ChildProcess } from 'node:child_process'
import OpenAI from 'openai'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startTestKortex, type TestKortex } from '../helpers/kortex.ts'
import { freePort, startRedis, stopRedis } from '../helpers/redis.ts'
import { startOpenAIUpstream, type OpenAIUpstream } from '../upstreams/openai.ts'

let redis: ChildProcess | undefined
let up: OpenAIUpstream
let a: TestKortex
let b: TestKortex

beforeAll(async () => {
  const port = await freePort()
  redis = await startRedis(port)
  process.env.KORTEX_RESPONSES_REDIS = `redis://127.0.0.1:${port}`
  process.env.RESPONSES_KEY_ONE = 'kx-responses-one-0001'
  process.env.RESPONSES_KEY_TWO = 'kx-responses-two-0002'
  up = await startOpenAIUpstream()
  const yaml = `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec:
  accessLog: false
  auth:
    keys:
      - { name: one, keyEnv: RESPONSES_KEY_ONE }
      - { name: two, keyEnv: RESPONSES_KEY_TWO }
  state: { store: redis, urlEnv: KORTEX_RESPONSES_REDIS, timeoutMs: 1000 }
  responses: { retention: 1h }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: up }
spec:
  type: external
  external: { url: "${up.base('ok')}" }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r }
spec: { models: [gpt-4o-mini], defaultBackend: { name: up } }
`
  a = await startTestKortex(yaml)
  b = await startTestKortex(yaml)
})

afterAll(async () => {
  await a?.close()
  await b?.close()
  await up?.close()
  await stopRedis(redis)
})

const client = (k: TestKortex, key: string) => new OpenAI({ baseURL: `${k.url}/v1`, apiKey: key, maxRetries: 0 })

it('a turn stored by one replica is continued and retrieved through the other, for its own key only', async () => {
  const first = await client(a, 'kx-responses-one-0001').responses.create({ model: 'gpt-4o-mini', input: 'Remember the word: tangerine.' })
  expect(first.status).toBe('completed')

  // The follow-up goes to the other replica: the earlier turn reaches the backend from Redis.
  const before = up.requests.length
  const next = await client(b, 'kx-responses-one-0001').responses.create({ model: 'gpt-4o-mini', input: 'Which word?', previous_response_id: first.id })
  expect(next.previous_response_id).toBe(first.id)
  const sent = up.requests.slice(before).at(-1)!.body as { messages: Array<{ role: string; content: unknown }> }
  expect(JSON.stringify(sent.messages)).toContain('tangerine')
  expect(sent.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user'])

  expect((await client(b, 'kx-responses-one-0001').responses.retrieve(first.id)).id).toBe(first.id)
  // Another key: not found on either replica, exactly like an id that never existed.
  await expect(client(a, 'kx-responses-two-0002').responses.retrieve(first.id)).rejects.toMatchObject({ status: 404 })
  await expect(client(b, 'kx-responses-two-0002').responses.create({ model: 'gpt-4o-mini', input: 'x', previous_response_id: first.id })).rejects.toMatchObject({ status: 400, code: 'previous_response_not_found' })

  // Deleted through one replica, gone on the other.
  await client(a, 'kx-responses-one-0001').responses.delete(first.id)
  await expect(client(b, 'kx-responses-one-0001').responses.retrieve(first.id)).rejects.toMatchObject({ status: 404 })
})
