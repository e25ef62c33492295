// ConverseStream's events -> OpenAI chat.completion.chunk SSE, one event at a
// time as the binary frames are decoded (eventstream.ts).
//
// Bedrock: messageStart, per block contentBlockStart (tool use only) /
// contentBlockDelta... / contentBlockStop, messageStop (stop reason), then
// metadata (usage). An exception message may come instead of any of them.
// OpenAI: a role chunk, content / tool_calls deltas, a finish_reason chunk,
// a usage chunk with no choices, then [DONE]. A failure is an error event and
// no [DONE], so a cut or corrupted answer never looks complete.
import { DONE, encodeData } from '../../api/sse.ts'
import { errorChunk, pumpChunks, type ChunkTranslator } from '../sse-translator.ts'
import { eventStreamDecoder, type EventMessage } from './eventstream.ts'
import { classify } from './errors.ts'
import { finishReason, toOpenAIUsage, type ConverseUsage } from './response.ts'

type Obj = Record<string, any>
const utf8 = new TextDecoder()

/** The error event's code for the class the core reads back (src/resilience/stream.ts) to decide on failover. */
const CODES: Record<string, { type: string; code: string }> = {
  rate_limit: { type: 'rate_limit_error', code: 'rate_limit_exceeded' },
  context_window: { type: 'invalid_request_error', code: 'context_length_exceeded' },
}

export class ConverseStreamTranslator implements ChunkTranslator<EventMessage> {
  private id = `chatcmpl-${crypto.randomUUID()}`
  private created: number
  private started = false
  private stop: string | undefined
  private usage: ConverseUsage | undefined
  /** Bedrock content block index -> OpenAI tool_calls index. */
  private tools = new Map<number, number>()
  /** The content block of the response_format tool, whose input deltas are the answer's content. */
  private jsonBlock: number | undefined
  /** With a response_format, text is held until it is known whether the JSON tool answers (then it is dropped, as in toOpenAIResponse). */
  private held: string[] = []
  finished = false

  /** `jsonTool`: the tool a response_format rides on (request.ts). */
  constructor(private model: string, now = Date.now(), private jsonTool?: string) {
    this.created = Math.floor(now / 1000)
  }

  private chunk(delta: Obj, finish: string | null = null): Uint8Array {
    return encodeData({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })
  }

  private start(out: Uint8Array[]) {
    if (this.started) return
    this.started = true
    out.push(this.chunk({ role: 'assistant', content: '' }))
  }

  fail(message: string, type = 'upstream_error', code = 'upstream_stream_interrupted'): Uint8Array[] {
    if (this.finished) return []
    this.finished = true
    return [encodeData(errorChunk(message, type, code))]
  }

  /** One decoded frame; returns the SSE events now due. */
  /** Reading the upstream body (or a frame of it) failed. */
  broken(reason: string): Uint8Array[] {
    return this.fail(`upstream stream failed: ${reason}`)
  }

  push(msg: EventMessage): Uint8Array[] {
    if (this.finished) return []
    let data: Obj
    try {
      data = JSON.parse(utf8.decode(msg.payload))
    } catch {
      return this.fail('malformed JSON in upstream event stream', 'upstream_error', 'upstream_bad_response')
    }
    const kind = msg.headers[':message-type']
    if (kind === 'exception' || kind === 'error') {
      const name = String(msg.headers[':exception-type'] ?? msg.headers[':error-code'] ?? 'exception')
      const message = String(data.message ?? data.Message ?? msg.headers[':error-message'] ?? name)
      const c = CODES[classify(name, message)] ?? { type: 'upstream_error', code: name }
      return this.fail(message, c.type, c.code)
    }
    const out: Uint8Array[] = []
    switch (msg.headers[':event-type']) {
      case 'messageStart':
        this.start(out)
        break
      case 'contentBlockStart': {
        this.start(out)
        const t = data.start?.toolUse
        if (t && this.jsonTool && t.name === this.jsonTool) {
          this.jsonBlock = data.contentBlockIndex
          this.held = []
        } else if (t) {
          const index = this.tools.size
          this.tools.set(data.contentBlockIndex, index)
          out.push(this.chunk({ tool_calls: [{ index, id: String(t.toolUseId), type: 'function', function: { name: String(t.name), arguments: '' } }] }))
        }
        break
      }
      case 'contentBlockDelta': {
        this.start(out)
        const d = data.delta ?? {}
        if (typeof d.text === 'string' && d.text) {
          if (!this.jsonTool) out.push(this.chunk({ content: d.text }))
          else if (this.jsonBlock === undefined) this.held.push(d.text)
        } else if (data.contentBlockIndex === this.jsonBlock && typeof d.toolUse?.input === 'string') {
          if (d.toolUse.input) out.push(this.chunk({ content: d.toolUse.input }))
        } else if (typeof d.toolUse?.input === 'string' && d.toolUse.input) {
          const index = this.tools.get(data.contentBlockIndex)
          if (index !== undefined) out.push(this.chunk({ tool_calls: [{ index, function: { arguments: d.toolUse.input } }] }))
        }
        // reasoningContent, citation deltas: nothing OpenAI's chunks carry.
        break
      }
      case 'messageStop':
        this.start(out)
        this.stop = typeof data.stopReason === 'string' ? data.stopReason : 'end_turn'
        // No JSON tool call after all (a model without forced tool choice): the text is the answer.
        if (this.held.length) out.push(this.chunk({ content: this.held.join('') }))
        this.held = []
        out.push(this.chunk({}, this.jsonBlock !== undefined && !this.tools.size && this.stop === 'tool_use' ? 'stop' : finishReason(this.stop)))
        break
      case 'metadata':
        this.usage = data.usage
        // Usage comes after messageStop: the stream is complete once both are in.
        if (this.stop !== undefined) out.push(...this.finish())
        break
      default: // contentBlockStop, and event types added later
    }
    return out
  }

  private finish(): Uint8Array[] {
    this.finished = true
    return [encodeData({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [], usage: toOpenAIUsage(this.usage) }), DONE]
  }

  /** The upstream body ended cleanly at a frame boundary. */
  end(): Uint8Array[] {
    if (this.finished) return []
    // Stopped but no metadata: complete, usage unknown (the gateway estimates it).
    if (this.stop !== undefined) {
      this.finished = true
      return [DONE]
    }
    return this.fail('upstream stream ended early, before messageStop', 'upstream_error', 'upstream_stream_truncated')
  }
}

/** Pipe a ConverseStream body through the frame decoder and translator; cancelling it cancels the upstream. */
export const translateConverseStream = (upstream: ReadableStream<Uint8Array>, model: string, jsonTool?: string): ReadableStream<Uint8Array> =>
  pumpChunks(upstream.pipeThrough(eventStreamDecoder()), new ConverseStreamTranslator(model, Date.now(), jsonTool))
