// The OpenAI ingress: /v1/chat/completions, /v1/completions, /v1/embeddings.
// OpenAI's form is the internal one, so parsing is validation alone and the
// answer goes back as it came: respond and stream hand back what they are
// given (the gateway then sends the upstream's bytes untouched).
import type * as z from 'zod'
import type { Operation } from '../../providers/types.ts'
import { errorResponse } from '../errors.ts'
import type { Ingress, IngressRequest } from '../ingress.ts'
import { validate } from '../schemas.ts'
import { chatRequest, completionRequest, embeddingRequest, quickChat } from './schemas.ts'

const schemas: Record<Operation, z.ZodType<Record<string, unknown>>> = { chat: chatRequest, completions: completionRequest, embeddings: embeddingRequest }

/** The ingress for one OpenAI operation. */
export function openaiIngress(op: Operation): Ingress {
  const schema = schemas[op]
  // The common chat request skips zod (see quickChat).
  const quick = op === 'chat' ? quickChat : undefined
  return {
    parse(json, text): IngressRequest {
      const body = validate(schema, json, quick) as Record<string, unknown> & { model: string }
      const stream = op !== 'embeddings' && body.stream === true
      const streamOptions = body.stream_options as { include_usage?: boolean } | null | undefined
      return { op, model: body.model, body, raw: text, stream, clientWantsUsage: streamOptions?.include_usage === true }
    },
    respond: (body) => body,
    stream: (body) => body,
    error: errorResponse,
  }
}
