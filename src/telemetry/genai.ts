// The OpenTelemetry GenAI semantic-convention names Kortex emits, in one
// module: no npm package carries them any more (@opentelemetry/semantic-conventions
// marks them "moved to the GenAI repository"), and they still change, so a
// rename is one edit here.
//
// Source: OpenTelemetry semantic conventions v1.41.0, the last GenAI release in
// open-telemetry/semantic-conventions — docs/gen-ai/gen-ai-spans.md (inference
// span) and docs/gen-ai/gen-ai-metrics.md (client metrics, buckets, well-known
// values); these names are what observability backends understand today.
// Newer: open-telemetry/semantic-conventions-genai (docs/gen-ai/client-inference.md
// and non-normative/migration.md) renames the inference metrics to
// gen_ai.client.inference.* and splits token usage into counters; the switch,
// when made, happens here.

/** Span name is `{gen_ai.operation.name} {gen_ai.request.model}`, kind CLIENT. */
export const GEN_AI_OPERATION_NAME = 'gen_ai.operation.name'
export const GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name'
export const GEN_AI_REQUEST_MODEL = 'gen_ai.request.model'
export const GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model'
/** Boolean; from semantic-conventions-genai client-inference.md. */
export const GEN_AI_REQUEST_STREAM = 'gen_ai.request.stream'
export const GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens'
export const GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens'
/** Input tokens served from the provider's prompt cache (part of input_tokens). */
export const GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = 'gen_ai.usage.cache_read.input_tokens'
/** Input tokens written to the provider's prompt cache (Anthropic's cache_creation_input_tokens; part of input_tokens). */
export const GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = 'gen_ai.usage.cache_creation.input_tokens'
/** Not yet in RequestSummary; named here so it is spelt once when it is. */
export const GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = 'gen_ai.usage.reasoning.output_tokens'
/** Seconds, double; streaming requests only. */
export const GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = 'gen_ai.response.time_to_first_chunk'
/** Opt-in content (GatewayConfig telemetry.recordContent): the chat history sent and the choices answered, as JSON. */
export const GEN_AI_INPUT_MESSAGES = 'gen_ai.input.messages'
export const GEN_AI_OUTPUT_MESSAGES = 'gen_ai.output.messages'
/** Metric attribute of gen_ai.client.token.usage. */
export const GEN_AI_TOKEN_TYPE = 'gen_ai.token.type'

// General conventions the GenAI ones reference (stable).
export const ERROR_TYPE = 'error.type'
export const SERVER_ADDRESS = 'server.address'
export const SERVER_PORT = 'server.port'
export const HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code'
/** error.type's fallback when nothing better is known. */
export const ERROR_TYPE_OTHER = '_OTHER'

/** Well-known gen_ai.operation.name values for what Kortex serves. */
export const GenAiOperation = {
  chat: 'chat',
  textCompletion: 'text_completion',
  embeddings: 'embeddings',
} as const

/** Well-known gen_ai.provider.name values; other providers MAY use their own. */
export const GenAiProvider = {
  openai: 'openai',
  anthropic: 'anthropic',
  azureOpenai: 'azure.ai.openai',
  awsBedrock: 'aws.bedrock',
  gcpGemini: 'gcp.gemini',
  gcpVertexAi: 'gcp.vertex_ai',
  cohere: 'cohere',
  mistralAi: 'mistral_ai',
} as const

export const GenAiTokenType = { input: 'input', output: 'output' } as const

// Client metrics (histograms), with the bucket boundaries the spec asks for.
export const GEN_AI_CLIENT_TOKEN_USAGE = 'gen_ai.client.token.usage'
export const GEN_AI_CLIENT_OPERATION_DURATION = 'gen_ai.client.operation.duration'
/** Streaming calls only. */
export const GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK = 'gen_ai.client.operation.time_to_first_chunk'

export const TOKEN_UNIT = '{token}'
export const SECONDS_UNIT = 's'
export const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
export const SECONDS_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
