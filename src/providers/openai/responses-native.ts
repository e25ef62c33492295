// A Responses client on an OpenAI backend that serves /v1/responses (the
// backend's `external.responsesApi: native`): the request goes to
// POST {baseUrl}/responses as the client sent it (model aside) and the
// answer comes back untouched. Other backends get it translated.
import type { Backend } from '../../config/compile.ts'
import { UpstreamError } from '../errors.ts'
import { isEventStream, postJson, readJsonObject } from '../http.ts'
import type { NativeRequest, NativeResult, NativeSupport, UpstreamCall } from '../types.ts'
import { openAIHeaders } from './headers.ts'
import { responsesDialect, responsesUsageToOpenAI } from './responses-dialect.ts'

/** Whether the backend takes Responses requests as they are. */
export const servesResponses = (b: Backend) => b.provider === 'openai' && b.spec.external?.responsesApi === 'native'

function headersFor(call: UpstreamCall, native: NativeRequest): Headers {
  const h = new Headers(openAIHeaders(call.backend))
  for (const name of call.forwardHeaders ?? []) {
    const v = native.headers.get(name)
    // Appended: a list the backend's own headers start (its anthropic-beta) is extended, not replaced.
    if (v !== null) h.append(name, v)
  }
  return h
}

/** A response object that failed: OpenAI may send one with a 2xx status. */
const isFailure = (o: Record<string, unknown>) => o.status === 'failed' || (o.object !== 'response' && Boolean(o.error))

async function send(call: UpstreamCall & { native: NativeRequest }): Promise<NativeResult> {
  const { native } = call
  const stream = native.body.stream === true
  const res = await postJson({ ...call, body: native.body, raw: native.raw }, `${call.backend.baseUrl}/responses`, headersFor(call, native), native.body)
  if (stream && isEventStream(res)) return { kind: 'stream', body: res.body!, dialect: responsesDialect() }
  if (stream) {
    res.body?.cancel().catch(() => {})
    throw new UpstreamError('bad_response', 'a whole response where an event stream was asked for', res.status)
  }
  const { raw, body } = await readJsonObject(call, res, isFailure)
  if (body.object !== 'response') throw new UpstreamError('bad_response', 'not a Responses response object', res.status)
  const usage = body.usage && typeof body.usage === 'object' ? responsesUsageToOpenAI(body.usage as Record<string, unknown>) : undefined
  return { kind: 'json', body, raw, usage }
}

export const responsesNative: NativeSupport = {
  speaks: (protocol, backend) => protocol === 'responses' && servesResponses(backend),
  send,
}
