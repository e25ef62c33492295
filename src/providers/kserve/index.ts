// KServe InferenceServices. LLM runtimes serve the OpenAI API (the Hugging
// Face runtime under /openai/v1, native vLLM under /v1: `pathPrefix`; the
// compiled baseUrl already ends in it); predictive models speak V1/V2 and
// are reached through the pass-through route (passthrough.ts), not through
// the OpenAI endpoints.
import { UpstreamError } from '../errors.ts'
import { openAIHeaders, openAIUrl, sendOpenAI } from '../openai/index.ts'
import type { Provider } from '../types.ts'

export { kservePassthrough, kserveReady, matchKservePath } from './passthrough.ts'

export const kserve: Provider = {
  // A predictive model (V1/V2) serves no OpenAI operation: the route's client gets a 400 naming
  // the pass-through path, not a 503 its SDK retries for ever.
  supports: (_op, backend) => (backend?.spec.kserve?.protocol ?? 'openai') === 'openai',
  send: async (call) => {
    const protocol = call.backend.spec.kserve?.protocol ?? 'openai'
    if (protocol !== 'openai') {
      throw new UpstreamError('unavailable', `it speaks KServe ${protocol.toUpperCase()}, not the OpenAI API; use the pass-through route /kserve/${call.backend.name}/${protocol}/...`)
    }
    return sendOpenAI(call, { url: openAIUrl(call.backend, call.op), headers: openAIHeaders(call.backend) })
  },
}
