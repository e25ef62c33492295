// Request headers for OpenAI-style upstreams, made once per backend.
import type { Backend } from '../../config/compile.ts'

// A backend's headers are the same for every request: made once per backend (a
// compiled backend is replaced, not changed, when the config reloads). Frozen:
// nothing downstream may add to the shared object.
const headersOf = { bearer: new WeakMap<Backend, Record<string, string>>(), 'api-key': new WeakMap<Backend, Record<string, string>>() }

/** Headers for an OpenAI-style upstream: our key for the backend, never the client's. */
export function openAIHeaders(backend: Backend, auth: 'bearer' | 'api-key' = 'bearer'): Record<string, string> {
  let h = headersOf[auth].get(backend)
  if (h) return h
  h = { ...backend.headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
  if (backend.apiKey) {
    if (auth === 'bearer') h.authorization = `Bearer ${backend.apiKey}`
    else h['api-key'] = backend.apiKey
  }
  headersOf[auth].set(backend, Object.freeze(h))
  return h
}
