// POST /v1/messages/count_tokens: the gateway tokenizer's count of the translated prompt.
import { expect, it } from 'vitest'
import { GatewayError } from '../../../src/api/errors.ts'
import { countTokens } from '../../../src/api/messages/index.ts'
import { countPromptTokens } from '../../../src/usage/tokens.ts'

it('counts what the model reads: system, messages and tools, without needing max_tokens', async () => {
  const short = await countTokens({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hello' }] })
  const long = await countTokens({
    model: 'claude-sonnet-4-5',
    system: 'You are a meticulous assistant who answers in full sentences.',
    tools: [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
    messages: [{ role: 'user', content: 'Hello' }],
  })
  expect(Object.keys(short)).toEqual(['input_tokens'])
  expect(short.input_tokens).toBe(await countPromptTokens({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hello' }] }, 'claude-sonnet-4-5'))
  expect(long.input_tokens).toBeGreaterThan(short.input_tokens + 20)
})

it('a body without messages is a 400 in Anthropic words', async () => {
  await expect(countTokens({ model: 'claude-sonnet-4-5' })).rejects.toSatisfy((e) => e instanceof GatewayError && e.status === 400 && e.message === 'messages: Field required')
})
