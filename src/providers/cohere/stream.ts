// Cohere v2 chat SSE -> OpenAI chat.completion.chunk SSE, one event at a time.
//
// Cohere: `event: <type>` + `data: {"type":...}` for message-start, then
// content-start / content-delta... / content-end per text block,
// tool-plan-delta, tool-call-start / tool-call-delta... / tool-call-end per
// call, citation-start / citation-end, and message-end with
// delta.finish_reason and delta.usage. No [DONE]: message-end is the end.
// OpenAI: a role chunk, content / tool_calls deltas, a finish chunk, a usage
// chunk with no choices, [DONE]. A failure is an error event and no [DONE].
import { DONE, encodeData } from '../../api/sse.ts'
import { SseTranslator, errorChunk, pump } from '../sse-translator.ts'
import { finishReason, toOpenAIUsage } from './response.ts'

type Obj = Record<string, any>

/** The call a tool-call event carries: one object (as documented), or a list of one. */
const one = (v: unknown): Obj => ((Array.isArray(v) ? v[0] : v) ?? {}) as Obj

export class CohereStreamTranslator extends SseTranslator {
  protected readonly lastEvent = 'message-end'
  private id = ''
  private created = 0
  private started = false
  /** Cohere tool call index -> OpenAI tool_calls index. */
  private tools = new Map<number, number>()

  constructor(private model: string, private now = () => Date.now()) {
    super()
  }

  private chunk(delta: Obj, finish: string | null = null): Uint8Array {
    return encodeData({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })
  }

  private start(out: Uint8Array[], id?: unknown) {
    if (this.started) return
    this.started = true
    this.id = typeof id === 'string' && id ? id : `chatcmpl-${crypto.randomUUID()}`
    this.created = Math.floor(this.now() / 1000)
    out.push(this.chunk({ role: 'assistant', content: '' }))
  }

  protected data(data: Obj, out: Uint8Array[], event?: string) {
    const type = typeof data?.type === 'string' ? data.type : event
    const msg = data.delta?.message ?? {}
    switch (type) {
      case 'message-start':
        return this.start(out, data.id)
      case 'content-start':
      case 'content-delta': {
        this.start(out)
        const text = msg.content?.text
        // Thinking blocks of reasoning models carry `thinking`, not text: not part of the answer.
        if (typeof text === 'string' && text) out.push(this.chunk({ content: text }))
        return
      }
      case 'tool-call-start': {
        this.start(out)
        const c = one(msg.tool_calls)
        const index = this.tools.size
        this.tools.set(typeof data.index === 'number' ? data.index : index, index)
        const args = typeof c.function?.arguments === 'string' ? c.function.arguments : ''
        out.push(this.chunk({ tool_calls: [{ index, id: String(c.id), type: 'function', function: { name: String(c.function?.name), arguments: args } }] }))
        return
      }
      case 'tool-call-delta': {
        const args = one(msg.tool_calls).function?.arguments
        const index = this.tools.get(data.index) ?? this.tools.size - 1
        if (typeof args === 'string' && args && index >= 0) out.push(this.chunk({ tool_calls: [{ index, function: { arguments: args } }] }))
        return
      }
      case 'message-end': {
        this.start(out)
        const d = data.delta ?? {}
        if (d.finish_reason === 'ERROR') return this.fail(out, typeof d.error === 'string' && d.error ? d.error : 'Cohere ended the generation with ERROR', 'upstream_server_error')
        out.push(this.chunk({}, finishReason(d.finish_reason)))
        const usage = toOpenAIUsage(d.usage)
        if (usage) out.push(encodeData({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [], usage }))
        out.push(DONE)
        this.finished = true
        return
      }
      default: // content-end, tool-plan-delta, tool-call-end, citation-start/end, debug, and types added later
        return
    }
  }
}

export const translateStream = (upstream: ReadableStream<Uint8Array>, model: string) => pump(upstream, new CohereStreamTranslator(model))
