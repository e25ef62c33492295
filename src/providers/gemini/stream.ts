// Gemini's streamGenerateContent?alt=sse -> OpenAI chat.completion.chunk SSE.
//
// Gemini: `data: {GenerateContentResponse}` events, each a piece of the
// candidate (text parts, whole functionCall parts), the last with a
// finishReason; usageMetadata so far on any of them; the body simply ends.
// OpenAI: a role chunk, content / tool_calls deltas, a finish_reason chunk,
// a usage chunk with no choices, then `data: [DONE]`. A failure is an error
// event and no [DONE], so a cut answer never looks complete.
import { DONE, SseSplitter, encodeData, parseEventBlock } from '../../api/sse.ts'
import { UpstreamError, fromFetchError } from '../errors.ts'
import { classifyGoogleError } from './errors.ts'
import { blockedPrompt, finishReason, readParts, toOpenAIUsage, type FinishReason } from './response.ts'

type Obj = Record<string, any>

/** The code an error event carries, worded so the core reads its class back (src/resilience/stream.ts). */
const EVENT_CODES: Partial<Record<UpstreamError['cls'], string>> = {
  rate_limit: 'rate_limit_exceeded',
  context_window: 'context_length_exceeded',
  content_policy: 'content_policy_violation',
}

export class StreamTranslator {
  private splitter = new SseSplitter()
  private id = `chatcmpl-${crypto.randomUUID()}`
  private created: number
  private started = false
  private tools = 0
  private finish: FinishReason | undefined
  private usage: Obj | undefined
  /** Set once the OpenAI stream is complete: [DONE] or an error event was emitted. */
  finished = false
  /** The failure that ended the stream, classified (read before any content was sent, it can still fail over). */
  failure: UpstreamError | undefined

  constructor(
    private model: string,
    now = Date.now(),
  ) {
    this.created = Math.floor(now / 1000)
  }

  push(text: string): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const block of this.splitter.push(text)) {
      if (this.finished) break
      this.event(block, out)
    }
    return out
  }

  /** The upstream body ended: complete when a finishReason came. */
  end(): Uint8Array[] {
    const out: Uint8Array[] = []
    const tail = this.splitter.flush()
    if (tail && !this.finished) this.event(tail, out)
    if (this.finished) return out
    if (!this.finish) {
      this.fail(out, new UpstreamError('bad_response', 'upstream stream ended early, before a finishReason'), 'upstream_stream_truncated')
      return out
    }
    // No usageMetadata at all: no usage chunk, so the gateway estimates rather than bills nothing.
    if (this.usage) out.push(encodeData({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [], usage: toOpenAIUsage(this.usage) }))
    out.push(DONE)
    this.finished = true
    return out
  }

  broken(err: UpstreamError): Uint8Array[] {
    const out: Uint8Array[] = []
    if (!this.finished) this.fail(out, err, 'upstream_stream_interrupted')
    return out
  }

  private fail(out: Uint8Array[], e: UpstreamError, code?: string) {
    this.finished = true
    this.failure = e
    const c = code ?? EVENT_CODES[e.cls] ?? e.upstreamCode ?? 'upstream_error'
    out.push(encodeData({ error: { message: e.message, type: e.cls === 'content_policy' ? 'invalid_request_error' : 'upstream_error', param: null, code: c } }))
  }

  private chunk(delta: Obj, finish: string | null = null): Uint8Array {
    return encodeData({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })
  }

  private event(block: string, out: Uint8Array[]) {
    const ev = parseEventBlock(block)
    if (!ev || !ev.data) return
    let data: Obj
    try {
      data = JSON.parse(ev.data)
    } catch {
      return this.fail(out, new UpstreamError('bad_response', 'malformed JSON in upstream stream'), 'upstream_bad_response')
    }
    if (data && typeof data.error === 'object' && data.error) return this.fail(out, classifyGoogleError(Number(data.error.code) || 500, data.error))
    const blocked = blockedPrompt(data)
    if (blocked) return this.fail(out, blocked)
    if (!this.started) {
      this.started = true
      if (typeof data.responseId === 'string' && data.responseId) this.id = `chatcmpl-${data.responseId}`
      if (typeof data.modelVersion === 'string' && data.modelVersion) this.model = data.modelVersion
      out.push(this.chunk({ role: 'assistant', content: '' }))
    }
    if (data.usageMetadata && typeof data.usageMetadata === 'object') this.usage = data.usageMetadata
    const cand = Array.isArray(data.candidates) ? (data.candidates[0] as Obj | undefined) : undefined
    if (!cand) return
    const { text, calls } = readParts(cand.content?.parts)
    if (text) out.push(this.chunk({ content: text }))
    for (const c of calls) out.push(this.chunk({ tool_calls: [{ index: this.tools++, ...c }] }))
    if (cand.finishReason && !this.finish) {
      this.finish = finishReason(cand.finishReason, this.tools > 0)
      out.push(this.chunk({}, this.finish))
    }
  }
}

/**
 * Reads the Gemini stream up to its first content, so a failure the stream
 * opens with (a blocked prompt, an error event) is thrown, classified, and
 * can still fail over; the rest is translated as it arrives.
 */
export async function openStream(upstream: ReadableStream<Uint8Array>, model: string, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
  const reader = upstream.getReader()
  const decoder = new TextDecoder()
  const t = new StreamTranslator(model)
  const next = async (): Promise<{ out: Uint8Array[]; ended: boolean }> => {
    try {
      const { value, done } = await reader.read()
      if (done) return { out: [...t.push(decoder.decode()), ...t.end()], ended: true }
      return { out: t.push(decoder.decode(value, { stream: true })), ended: false }
    } catch (err) {
      return { out: t.broken(fromFetchError(err, signal)), ended: true }
    }
  }
  // Preamble: up to the first chunk past the role chunk, or the end.
  const held: Uint8Array[] = []
  let ended = false
  while (!ended && !t.finished && held.length < 2) {
    const r = await next()
    held.push(...r.out)
    ended = r.ended
  }
  if (t.failure && held.length <= 2) {
    reader.cancel().catch(() => {})
    throw t.failure
  }
  return new ReadableStream<Uint8Array>({
    start(ctrl) {
      for (const b of held) ctrl.enqueue(b)
      if (t.finished || ended) {
        if (!ended) reader.cancel().catch(() => {})
        ctrl.close()
      }
    },
    async pull(ctrl) {
      for (;;) {
        const r = await next()
        for (const b of r.out) ctrl.enqueue(b)
        if (t.finished || r.ended) {
          if (!r.ended) reader.cancel().catch(() => {})
          ctrl.close()
          return
        }
        if (r.out.length) return
      }
    },
    cancel(reason) {
      return reader.cancel(reason).catch(() => {})
    },
  })
}
