// The Anthropic Messages API as an ingress: POST /v1/messages over every
// backend, translated to and from the internal chat form (request.ts,
// response.ts, stream.ts), errors in Anthropic's shape (errors.ts), and
// POST /v1/messages/count_tokens (count-tokens.ts).
//
// `anthropic-version` is accepted whatever it says, and may be absent
// (Anthropic itself answers 400 "anthropic-version: header is required"): the
// translation does not depend on it, and an Anthropic backend gets the version
// its config pins. Keys come as `x-api-key` or `Authorization: Bearer`
// (src/auth/authenticate.ts takes both).
import type { Ingress, IngressRequest } from '../ingress.ts'
import { estimatePromptTokens } from '../../usage/tokens.ts'
import { errorResponse, statusOf } from './errors.ts'
import { toChatRequest } from './request.ts'
import { toMessage } from './response.ts'
import { quickMessages } from './quick-check.ts'
import { messagesRequest, validateMessages } from './schema.ts'
import { toMessagesStream } from './stream.ts'
import { webStream } from '../../providers/types.ts'

export { countTokens } from './count-tokens.ts'
export { errorResponse as messagesError } from './errors.ts'

interface State {
  stopSequences?: string[]
}

const stateOf = (r: IngressRequest) => (r.state ?? {}) as State

export function messagesIngress(): Ingress {
  return {
    parse(json, text) {
      const req = validateMessages(messagesRequest, json, quickMessages)
      const stream = req.stream === true
      return {
        op: 'chat',
        model: req.model,
        body: toChatRequest(req),
        stream,
        clientWantsUsage: stream,
        native: { protocol: 'messages', body: json as Record<string, unknown>, raw: text },
        state: { stopSequences: req.stop_sequences } satisfies State,
      }
    },
    respond(body, request) {
      return toMessage(body, request.model, stateOf(request).stopSequences)
    },
    stream(body, request) {
      const inputEstimate = estimatePromptTokens(request.body, request.model).tokens
      return toMessagesStream(webStream(body), { model: request.model, stopSequences: stateOf(request).stopSequences, inputEstimate })
    },
    status: statusOf,
    error: errorResponse,
  }
}
