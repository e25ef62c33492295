// The headers every request to Anthropic carries, translated or native.
import type { Backend } from '../../config/compile.ts'

export const ANTHROPIC_VERSION = '2023-06-01'

/** Our key for the backend, never the client's; backend headers may pin another version or add anthropic-beta. */
export function anthropicHeaders(backend: Backend, stream: boolean): Headers {
  const h = new Headers(backend.headers)
  if (!h.has('anthropic-version')) h.set('anthropic-version', ANTHROPIC_VERSION)
  h.set('content-type', 'application/json')
  h.set('accept', stream ? 'text/event-stream' : 'application/json')
  if (backend.apiKey) h.set('x-api-key', backend.apiKey)
  return h
}
