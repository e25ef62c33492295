// The OpenAI Responses API (`POST /v1/responses`) as an ingress translator
// over the internal Chat Completions form, with stored responses
// (`store`, `previous_response_id`, `item_reference`, GET/DELETE by id).
// Mounting: `responsesIngress({ retentionSeconds: () => config.responses.retentionSeconds })`
// serves POST /v1/responses; `responsesRoute(method, pathname, searchParams, { store, scope })`
// answers GET/DELETE /v1/responses/{id} and GET .../input_items (undefined for other paths).
import type { Ingress, IngressContext, IngressRequest } from '../ingress.ts'
import { GatewayError, badRequest, errorResponse } from '../errors.ts'
import { validate } from '../schemas.ts'
import { responsesRequest, type ResponsesRequest, type Item } from './schema.ts'
import { normaliseInput, previousNotFound, toChatMessages, toChatToolChoice, toChatTools, toResponseFormat, type Loader } from './request.ts'
import { toResponse } from './response.ts'
import { toResponsesStream } from './stream.ts'
import { conversationAfter, loadResponse, saveResponse, type StoredResponse } from './store.ts'
import { randomHex, type Echo, type Turn } from './turn.ts'
import { webStream } from '../../providers/types.ts'

export { responsesRoute } from './routes.ts'

export interface ResponsesOptions {
  /** How long stored responses are kept (config `responses.retention`); a function so a config swap applies. */
  retentionSeconds: number | (() => number)
}

type Obj = Record<string, unknown>

const REFUSED = ['conversation', 'prompt'] as const

export function responsesIngress(opts: ResponsesOptions): Ingress {
  const retention = () => (typeof opts.retentionSeconds === 'function' ? opts.retentionSeconds() : opts.retentionSeconds)

  /**
   * Stores the finished response and waits for the write. The client has every token by then;
   * only the last event (or the JSON body) waits one store round trip, so that a follow-up
   * turn, which clients send the moment they see it, finds it on any replica. waitUntil
   * keeps the write alive should the client go away meanwhile. A failed write is not the
   * client's failure: the answer stands, and a follow-up would get previous_response_not_found.
   */
  const keep = async (t: Turn, response: Obj, ctx: IngressContext) => {
    if (!t.store) return
    const record: StoredResponse = { v: 1, scope: t.scope, response, input: t.input, history: t.history }
    const write = saveResponse(ctx.store, record, retention())
    ctx.waitUntil(write) // a failed write is logged there, with the gateway's other background failures
    await write.catch(() => {})
  }

  return {
    async parse(json, text, _req, ctx): Promise<IngressRequest> {
      const r = validate(responsesRequest, json)
      if (r.background) throw badRequest('background responses are not supported by this gateway.', 'background', 'unsupported_value')
      for (const k of REFUSED) if (r[k] !== undefined && r[k] !== null) throw badRequest(`'${k}' is not supported by this gateway's Responses API.`, k, 'unsupported_parameter')
      const hex = randomHex()
      const scope = await ctx.scope()
      const cache = new Map<string, Promise<StoredResponse | undefined>>()
      const load: Loader = (id) => {
        let p = cache.get(id)
        if (!p) cache.set(id, (p = loadResponse(ctx.store, id, scope)))
        return p
      }
      const prevId = r.previous_response_id ?? undefined
      const native = { protocol: 'responses' as const, body: json as Obj, raw: text }
      const stream = r.stream === true
      const [prev, input] = await Promise.all([prevId ? load(prevId) : undefined, normaliseInput(r.input, hex, load).catch(unknownItem)])
      // A reference the gateway never stored may be a native backend's own (it answered natively
      // and keeps its responses): only such a backend may take the request, as it came.
      const unknown = prevId && !prev ? previousNotFound(prevId) : input instanceof GatewayError ? input : undefined
      // Its internal body only sizes it for token limits and estimates: the input as text.
      if (unknown) {
        const sized = { model: r.model, messages: [{ role: 'user', content: typeof r.input === 'string' ? r.input : JSON.stringify(r.input ?? '') }], max_tokens: r.max_output_tokens ?? undefined }
        return { op: 'chat', model: r.model, body: sized, stream, clientWantsUsage: true, native, nativeOnly: unknown }
      }
      const history = prev ? conversationAfter(prev) : []
      const body = chatBody(r, toChatMessages(r.instructions, history, input as Item[]))
      const store = r.store !== false
      const turn: Turn = { id: `resp_${hex}`, hex, createdAt: Math.floor(ctx.now() / 1000), model: r.model, echo: echo(r, store), store, history, input: input as Item[], scope }
      return { op: 'chat', model: r.model, body, stream, clientWantsUsage: true, native, state: turn }
    },

    async respond(body, request, ctx) {
      const t = request.state as Turn
      const response = toResponse(body, t, ctx.now())
      await keep(t, response, ctx)
      return response
    },

    stream(body, request, ctx) {
      const t = request.state as Turn
      return toResponsesStream(webStream(body), t, { now: () => ctx.now(), finished: (response) => keep(t, response, ctx) })
    },

    error(err, headers) {
      return errorResponse(err, headers)
    },
  }
}

function chatBody(r: ResponsesRequest, messages: Obj[]): Obj {
  if (!messages.length) throw badRequest("Missing required parameter: 'input'.", 'input', 'missing_required_parameter')
  const body: Obj = { model: r.model, messages }
  if (r.tools?.length) {
    body.tools = toChatTools(r.tools)
    const choice = toChatToolChoice(r.tool_choice)
    if (choice !== undefined) body.tool_choice = choice
    if (typeof r.parallel_tool_calls === 'boolean') body.parallel_tool_calls = r.parallel_tool_calls
  }
  const format = toResponseFormat(r.text?.format as Obj | undefined)
  if (format) body.response_format = format
  if (r.text?.verbosity) body.verbosity = r.text.verbosity
  if (r.reasoning?.effort) body.reasoning_effort = r.reasoning.effort
  if (r.max_output_tokens != null) body.max_tokens = r.max_output_tokens
  if (r.temperature != null) body.temperature = r.temperature
  if (r.top_p != null) body.top_p = r.top_p
  if (r.user != null) body.user = r.user
  if (r.stream) {
    body.stream = true
    body.stream_options = { include_usage: true }
  }
  return body
}

/** The request's settings as the Response object repeats them, with OpenAI's defaults. */
function echo(r: ResponsesRequest, store: boolean): Echo {
  return {
    instructions: r.instructions ?? null,
    max_output_tokens: r.max_output_tokens ?? null,
    parallel_tool_calls: r.parallel_tool_calls ?? true,
    previous_response_id: r.previous_response_id ?? null,
    reasoning: { effort: r.reasoning?.effort ?? null, summary: (r.reasoning?.summary as string | undefined) ?? null },
    store,
    temperature: r.temperature ?? null,
    text: { format: r.text?.format ?? { type: 'text' }, ...(r.text?.verbosity ? { verbosity: r.text.verbosity } : {}) },
    tool_choice: r.tool_choice ?? 'auto',
    tools: (r.tools ?? []).map((t: Item) => ({ type: 'function', name: t.name, description: t.description ?? null, parameters: t.parameters ?? null, strict: typeof t.strict === 'boolean' ? t.strict : null })),
    top_p: r.top_p ?? null,
    user: r.user ?? null,
    metadata: r.metadata ?? {},
  }
}

/** An item_reference the gateway does not hold, as a value (other errors stay thrown). */
const unknownItem = (e: unknown): GatewayError => {
  if (e instanceof GatewayError && e.code === 'item_not_found') return e
  throw e
}
