// The design card's fallback, as examples/azure-to-bedrock.yaml writes it:
// Azure OpenAI down, AWS Bedrock serves, and the client (the openai SDK)
// notices nothing but the backend header.
import { readFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import OpenAI from 'openai'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { AZURE_API_KEY, startAzureUpstream, type AzureUpstream } from '../upstreams/azure.ts'
import { CREDS, startBedrockUpstream, type BedrockUpstream } from '../upstreams/bedrock.ts'
import { startTestKortex, type TestKortex } from '../helpers/kortex.ts'

const example = readFileSync(new URL('../../examples/azure-to-bedrock.yaml', import.meta.url), 'utf8')
let azure: AzureUpstream
let bedrock: BedrockUpstream
let up: TestKortex
let down: TestKortex

/** A port nothing listens on: Azure "down" (connection refused). */
async function deadPort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const { port } = srv.address() as AddressInfo
  await new Promise((r) => srv.close(r))
  return port
}

const withUrls = (azureUrl: string) =>
  // Bedrock's own endpoint is the region's default; the test points it at the test server with `url`.
  example.replace('https://my-resource.openai.azure.com', azureUrl).replace('    provider: bedrock', `    url: ${bedrock.base('ok')}\n    provider: bedrock`)

beforeAll(async () => {
  process.env.AZURE_OPENAI_API_KEY = AZURE_API_KEY
  process.env.AWS_BEDROCK_ACCESS_KEY_ID = CREDS.accessKeyId
  process.env.AWS_BEDROCK_SECRET_ACCESS_KEY = CREDS.secretAccessKey
  azure = await startAzureUpstream()
  bedrock = await startBedrockUpstream()
  up = await startTestKortex(withUrls(azure.url))
  down = await startTestKortex(withUrls(`http://127.0.0.1:${await deadPort()}`))
})
afterAll(async () => {
  await up?.close()
  await down?.close()
  await azure?.close()
  await bedrock?.close()
})

const client = (k: TestKortex) => new OpenAI({ baseURL: `${k.url}/v1`, apiKey: 'any', maxRetries: 0 })

it('Azure answers while it is up', async () => {
  const { data, response } = await client(up).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).withResponse()
  expect(response.headers.get('x-kortex-backend')).toBe('azure-gpt4o')
  expect(data.choices[0]!.message.content).toBe('azure chat/completions gpt4o-prod')
})

it('Azure down: Bedrock serves the same request, whole and streamed', async () => {
  const { data, response } = await client(down).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).withResponse()
  expect(response.headers.get('x-kortex-backend')).toBe('bedrock-claude')
  expect(response.headers.get('x-kortex-attempts')).toBe('2')
  expect(data.choices[0]!.message.content).toBeTruthy()
  expect(bedrock.requests.at(-1)!.path).toContain('/converse')

  const stream = await client(down).chat.completions.create({ model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] })
  let text = ''
  let total = 0
  for await (const c of stream) {
    text += c.choices[0]?.delta.content ?? ''
    if (c.usage) total = c.usage.total_tokens
  }
  expect(text).toBeTruthy()
  expect(total).toBeGreaterThan(0)
  expect(bedrock.requests.at(-1)!.path).toContain('/converse-stream')
})
