// Anthropic Messages SSE -> OpenAI chat.completion.chunk SSE, one upstream
// event at a time, so text reaches the client as soon as it arrives.
//
// Anthropic: message_start, then per content block content_block_start /
// content_block_delta... / content_block_stop, then message_delta (stop
// reason, final usage) and message_stop; ping anywhere; error may end it.
// OpenAI: a role chunk, content / tool_calls deltas, a finish_reason chunk,
// a usage chunk with no choices, then `data: [DONE]`. A failure is an error
// event and no [DONE], so a cut answer never looks complete.
import { DONE, encodeData } from '../../api/sse.ts'
import { SseTranslator, pump } from '../sse-translator.ts'
import { finishReason, toOpenAIUsage, type AnthropicUsage } from './response.ts'

type Obj = Record<string, any>

export class StreamTranslator extends SseTranslator {
  protected readonly lastEvent = 'message_stop'
  private id = ''
  private created = 0
  private model: string
  private started = false
  private finishSent = false
  private usage: AnthropicUsage = {}
  /** Anthropic content block index -> OpenAI tool_calls index. */
  private tools = new Map<number, number>()
  constructor(fallbackModel: string, private now = () => Date.now()) {
    super()
    this.model = fallbackModel
  }

  private chunk(delta: Obj, finish: string | null = null): Uint8Array {
    return encodeData({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })
  }

  private start(out: Uint8Array[], message?: Obj) {
    if (this.started) return
    this.started = true
    this.id = typeof message?.id === 'string' ? message.id : `chatcmpl-${crypto.randomUUID()}`
    if (typeof message?.model === 'string' && message.model) this.model = message.model
    this.created = Math.floor(this.now() / 1000)
    out.push(this.chunk({ role: 'assistant', content: '' }))
  }

  private addUsage(u: unknown) {
    if (!u || typeof u !== 'object') return
    for (const [k, v] of Object.entries(u)) if (typeof v === 'number') this.usage[k] = v
  }

  protected data(data: Obj, out: Uint8Array[], event?: string) {
    const type = typeof data?.type === 'string' ? data.type : event
    switch (type) {
      case 'message_start':
        this.addUsage(data.message?.usage)
        return this.start(out, data.message)
      case 'content_block_start': {
        this.start(out)
        const b = data.content_block ?? {}
        if (b.type === 'text' && typeof b.text === 'string' && b.text) out.push(this.chunk({ content: b.text }))
        else if (b.type === 'tool_use') {
          const index = this.tools.size
          this.tools.set(data.index, index)
          out.push(this.chunk({ tool_calls: [{ index, id: b.id, type: 'function', function: { name: b.name, arguments: '' } }] }))
        }
        // thinking, redacted_thinking, server tool blocks: nothing OpenAI can carry.
        return
      }
      case 'content_block_delta': {
        this.start(out)
        const d = data.delta ?? {}
        if (d.type === 'text_delta' && typeof d.text === 'string' && d.text) out.push(this.chunk({ content: d.text }))
        else if (d.type === 'input_json_delta' && typeof d.partial_json === 'string' && d.partial_json) {
          const index = this.tools.get(data.index)
          if (index !== undefined) out.push(this.chunk({ tool_calls: [{ index, function: { arguments: d.partial_json } }] }))
        }
        // thinking_delta, signature_delta, citations_delta: skipped.
        return
      }
      case 'message_delta':
        this.start(out)
        this.addUsage(data.usage)
        if (data.delta?.stop_reason && !this.finishSent) {
          this.finishSent = true
          out.push(this.chunk({}, finishReason(data.delta.stop_reason)))
        }
        return
      case 'message_stop':
        this.start(out)
        if (!this.finishSent) {
          this.finishSent = true
          out.push(this.chunk({}, 'stop'))
        }
        out.push(encodeData({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [], usage: toOpenAIUsage(this.usage) }))
        out.push(DONE)
        this.finished = true
        return
      case 'error': {
        const e = data.error ?? {}
        const kind = typeof e.type === 'string' ? e.type : 'api_error'
        return this.fail(out, typeof e.message === 'string' ? e.message : 'upstream error', kind, kind)
      }
      default: // ping, content_block_stop, and event types added later
        return
    }
  }
}

/** Pipe an Anthropic SSE body through the translator; cancelling it cancels the upstream. */
export const translateStream = (upstream: ReadableStream<Uint8Array>, fallbackModel: string): ReadableStream<Uint8Array> => pump(upstream, new StreamTranslator(fallbackModel))
