// Placeholder until the azure provider lands.
import { UpstreamError } from '../errors.ts'
import type { Provider } from '../types.ts'

export const azureOpenAI: Provider = {
  supports: () => false,
  send: async () => {
    throw new UpstreamError('unavailable', 'provider not implemented yet')
  },
}
