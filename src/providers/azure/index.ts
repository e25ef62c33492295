// Azure OpenAI. Two URL styles: deployment URLs
//   {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...
// when `apiVersion` is set, else the v1 API
//   {endpoint}/openai/v1/chat/completions   (model in the body).
// The key goes in the `api-key` header.
import type { Backend } from '../../config/compile.ts'
import { OPENAI_PATHS, openAIHeaders, sendOpenAI } from '../openai/index.ts'
import type { Operation, Provider } from '../types.ts'

export function azureUrl(backend: Backend, op: Operation, model: unknown): string {
  const ext = backend.spec.external
  const root = backend.baseUrl.replace(/\/+$/, '')
  if (ext?.apiVersion) {
    const deployed = /\/openai\/deployments\/[^/]+$/.test(root)
    const deployment = ext.deployment ?? backend.model ?? String(model)
    const base = deployed ? root : `${root.replace(/\/openai$/, '')}/openai/deployments/${encodeURIComponent(deployment)}`
    return `${base}${OPENAI_PATHS[op]}?api-version=${encodeURIComponent(ext.apiVersion)}`
  }
  const base = /\/openai\/v1$/.test(root) ? root : `${root.replace(/\/openai$/, '')}/openai/v1`
  return base + OPENAI_PATHS[op]
}

export const azureOpenAI: Provider = {
  supports: () => true,
  send: (call) => sendOpenAI(call, { url: azureUrl(call.backend, call.op, call.body.model), headers: openAIHeaders(call.backend, 'api-key') }),
}
