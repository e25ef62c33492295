// Azure OpenAI. Two URL styles:
//   deployment URLs, when `apiVersion` is set:
//     {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...
//   the v1 API otherwise (model = deployment name, in the body):
//     {endpoint}/openai/v1/chat/completions
// `external.url` may be the resource endpoint (https://x.openai.azure.com),
// end in /openai, name the deployment (.../openai/deployments/{d}) or be
// the v1 base (.../openai/v1); segments are never doubled. The key goes in
// the `api-key` header, never in Authorization.
import type { Backend } from '../../config/compile.ts'
import { UpstreamError } from '../errors.ts'
import { OPENAI_PATHS, openAIHeaders, sendOpenAI } from '../openai/index.ts'
import type { Operation, Provider } from '../types.ts'

const DEPLOYMENT_URL = /\/openai\/deployments\/[^/]+$/
const V1_URL = /\/openai\/v1$/

export function azureUrl(backend: Backend, op: Operation, model: unknown): string {
  const ext = backend.spec.external
  const root = backend.baseUrl.replace(/\/+$/, '')
  const version = ext?.apiVersion
  const query = version ? `?api-version=${encodeURIComponent(version)}` : ''
  // Already the v1 base: keep it; an apiVersion here is the v1 API's own (e.g. "preview").
  if (V1_URL.test(root)) return root + OPENAI_PATHS[op] + query
  if (DEPLOYMENT_URL.test(root)) {
    if (!version) throw new UpstreamError('unavailable', 'its url names a deployment, which needs external.apiVersion (e.g. "2024-10-21"); or give the resource endpoint to use the v1 API')
    return root + OPENAI_PATHS[op] + query
  }
  const endpoint = root.replace(/\/openai$/, '')
  if (version) {
    const deployment = ext?.deployment ?? backend.model ?? String(model)
    return `${endpoint}/openai/deployments/${encodeURIComponent(deployment)}${OPENAI_PATHS[op]}${query}`
  }
  return `${endpoint}/openai/v1${OPENAI_PATHS[op]}`
}

/**
 * Dated api-versions before 2024-09-01 refuse `stream_options` with a 400
 * ("Unrecognized request argument"); the v1 API, "preview" and later dates
 * take it. Only then does the gateway ask for the usage chunk itself.
 */
export function azureTakesStreamOptions(apiVersion: string | undefined): boolean {
  const date = apiVersion && /^\d{4}-\d{2}-\d{2}/.exec(apiVersion)?.[0]
  return !date || date >= '2024-09-01'
}

export const azureOpenAI: Provider = {
  supports: () => true,
  send: async (call) => {
    const url = azureUrl(call.backend, call.op, call.body.model)
    const headers = openAIHeaders(call.backend, 'api-key')
    return sendOpenAI(call, { url, headers, streamUsage: azureTakesStreamOptions(call.backend.spec.external?.apiVersion) })
  },
}
