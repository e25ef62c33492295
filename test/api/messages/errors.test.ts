// Gateway errors (refusals and upstream failures) in Anthropic's shape and status.
import { expect, it } from 'vitest'
import { GatewayError } from '../../../src/api/errors.ts'
import { UpstreamError, toGatewayError } from '../../../src/providers/errors.ts'
import { ingress } from './helpers.ts'

const cases: Array<[GatewayError, string]> = [
  [new GatewayError(400, 'bad', 'invalid_request_error'), 'invalid_request_error'],
  [new GatewayError(401, 'Incorrect API key provided.', 'authentication_error', 'invalid_api_key'), 'authentication_error'],
  [new GatewayError(402, 'Budget exhausted', 'insufficient_quota', 'budget_exceeded'), 'billing_error'],
  [new GatewayError(403, 'not allowed', 'permission_error'), 'permission_error'],
  [new GatewayError(404, 'Unknown request URL', 'invalid_request_error', 'unknown_url'), 'not_found_error'],
  [new GatewayError(413, 'too big', 'invalid_request_error', 'request_too_large'), 'request_too_large'],
  [new GatewayError(422, 'unprocessable', 'invalid_request_error'), 'invalid_request_error'],
  [new GatewayError(429, 'slow down', 'rate_limit_error'), 'rate_limit_error'],
  [new GatewayError(500, 'oops', 'api_error'), 'api_error'],
  [new GatewayError(502, 'backend failed', 'upstream_error'), 'api_error'],
  [new GatewayError(503, 'No backend is available for this route', 'upstream_error', 'no_backend_available'), 'overloaded_error'],
  [new GatewayError(504, 'backend did not answer in time', 'timeout_error'), 'timeout_error'],
]

it.each(cases)('%s -> %s, with the status kept', async (err, type) => {
  const res = ingress.error(err, { 'x-request-id': 'req-7' })
  expect(res.status).toBe(err.status)
  expect(res.headers.get('content-type')).toBe('application/json')
  expect(await res.json()).toEqual({ type: 'error', error: { type, message: err.message }, request_id: 'req-7' })
})

it("a rate limit keeps its retry-after and x-ratelimit-* headers, and the request id is where Anthropic's SDK reads it", () => {
  const err = new GatewayError(429, 'Rate limit reached', 'rate_limit_error', 'rate_limit_exceeded', null, { 'retry-after': '12', 'x-ratelimit-limit-requests': '60', 'x-ratelimit-remaining-requests': '0' })
  const res = ingress.error(err, { 'x-request-id': 'req-8', 'x-kortex-route': 'r' })
  expect(res.headers.get('retry-after')).toBe('12')
  expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('0')
  expect(res.headers.get('x-request-id')).toBe('req-8')
  expect(res.headers.get('request-id')).toBe('req-8')
  expect(res.headers.get('x-kortex-route')).toBe('r')
})

// The last upstream failure as the attempts hand it over (toGatewayError, which the OpenAI and Responses
// ingresses answer with as it is): an upstream's overload is Anthropic's 529; any other fault keeps its 502.
const upstream: Array<[string, UpstreamError, number, string]> = [
  ["an Anthropic backend's 529 overloaded_error", new UpstreamError('server', 'Overloaded', 529, undefined, 'overloaded_error'), 529, 'overloaded_error'],
  ["an OpenAI-compatible backend's 503", new UpstreamError('server', 'The engine is currently overloaded, please try again later', 503, undefined, 'server_error'), 529, 'overloaded_error'],
  ["a backend's 500", new UpstreamError('server', 'The server had an error while processing your request.', 500), 502, 'api_error'],
  ['a 504 from a proxy in front of the backend', new UpstreamError('server', 'HTTP 504', 504), 502, 'api_error'],
  ["a 200 that is not the protocol's answer", new UpstreamError('bad_response', 'not an Anthropic message object', 200), 502, 'api_error'],
  ['no connection', new UpstreamError('connection', 'ECONNREFUSED'), 502, 'api_error'],
  ["an upstream message that only reads like a 503 (no status)", new UpstreamError('server', 'failed with HTTP 503: looks like one'), 502, 'api_error'],
]

it.each(upstream)('%s: the client gets %i %s, the message kept', async (_, e, status, type) => {
  const err = toGatewayError(e, 'b-1')
  expect(err.status).toBe(502) // what the other APIs answer, unchanged
  const res = ingress.error(err, { 'x-request-id': 'req-9' })
  expect(res.status).toBe(status)
  expect(await res.json()).toEqual({ type: 'error', error: { type, message: err.message }, request_id: 'req-9' })
})

it("a 503 the gateway gives of its own (a backend it will not try) stays 503, overloaded_error", async () => {
  const res = ingress.error(toGatewayError(new UpstreamError('unavailable', 'circuit open or at its concurrency limit'), 'b-1'), {})
  expect(res.status).toBe(503)
  expect(((await res.json()) as any).error.type).toBe('overloaded_error')
})
