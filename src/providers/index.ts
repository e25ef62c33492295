import type { ProviderName } from '../config/compile.ts'
import type { Provider } from './types.ts'
import { openai } from './openai/index.ts'
import { azureOpenAI } from './azure/index.ts'
import { anthropic } from './anthropic/index.ts'
import { kserve } from './kserve/index.ts'
import { demo } from './demo/index.ts'
import { cohere } from './cohere/index.ts'
import { mistral } from './mistral/index.ts'
import { bedrock } from './bedrock/index.ts'
import { gemini, vertex } from './gemini/index.ts'

export const providers: Record<ProviderName, Provider> = {
  openai,
  'azure-openai': azureOpenAI,
  anthropic,
  kserve,
  demo,
  cohere,
  mistral,
  bedrock,
  gemini,
  vertex,
}
