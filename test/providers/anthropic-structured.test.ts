// OpenAI's structured output asked of an Anthropic backend: its output_config.format.
import { expect, it } from 'vitest'
import { toAnthropicRequest } from '../../src/providers/anthropic/request.ts'

it("response_format json_schema becomes output_config.format with the same schema; json_object and text add nothing", () => {
  const schema = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] }
  const messages = [{ role: 'user', content: 'count' }]
  const out = toAnthropicRequest({ model: 'claude', messages, response_format: { type: 'json_schema', json_schema: { name: 'r', schema, strict: true } } }, false)
  expect(out.output_config).toEqual({ format: { type: 'json_schema', schema } })
  expect(toAnthropicRequest({ model: 'claude', messages, response_format: { type: 'json_object' } }, false)).not.toHaveProperty('output_config')
  expect(toAnthropicRequest({ model: 'claude', messages }, false)).not.toHaveProperty('output_config')
})
