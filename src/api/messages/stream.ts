// The internal stream (OpenAI chat.completion.chunk SSE) -> Anthropic's
// Messages events, one chunk at a time:
//   message_start, then per content block content_block_start, (ping after
//   the first), content_block_delta..., content_block_stop, then message_delta
//   (stop reason, usage) and message_stop; a failure is an `error` event.
// Usage comes last in an OpenAI stream, so message_start carries an estimate
// of the input and message_delta the upstream's counts (the Anthropic SDK
// takes message_delta's input_tokens over message_start's).
import { SseSplitter, parseEventBlock } from '../sse.ts'
import { pumpChunks } from '../../providers/sse-translator.ts'
import { streamErrorType, type AnthropicErrorType } from './errors.ts'
import { messageId, newId, stopReason, toMessagesUsage } from './response.ts'

type Obj = Record<string, any>

const enc = new TextEncoder()
const event = (type: string, data: Obj) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`
// The event sent most, written without building an object.
const textDelta = (index: number, text: string) =>
  `event: content_block_delta\ndata: {"type":"content_block_delta","index":${index},"delta":{"type":"text_delta","text":${JSON.stringify(text)}}}\n\n`

interface Tool {
  id: string
  name: string
  args: string
  /** Its content block index once started. */
  index?: number
  closed: boolean
}

export interface EncoderOptions {
  model: string
  stopSequences?: readonly string[]
  /** Input tokens for message_start, before the upstream's usage is known. */
  inputEstimate?: number
}

export class MessagesStreamEncoder {
  private splitter = new SseSplitter()
  private started = false
  private pinged = false
  private next = 0
  /** The open block: 'text', a tool, or none. */
  private open: { index: number; tool?: Tool } | undefined
  private tools = new Map<number, Tool>()
  /** Tools whose deltas came while another tool's block was open and unfinished. */
  private held: Tool[] = []
  private finish: unknown
  private matched: unknown
  private usage: Obj | undefined
  /** The model refused (OpenAI's `refusal` delta): Anthropic's stop_reason says so. */
  private refused = false
  /** Set once message_stop or an error event is out: nothing follows. */
  done = false

  constructor(private opts: EncoderOptions) {}

  push(text: string): string[] {
    const out: string[] = []
    for (const block of this.splitter.push(text)) {
      if (this.done) break
      this.block(block, out)
    }
    return out
  }

  /** The internal stream ended: without [DONE] or an error event, the answer is cut. */
  end(): string[] {
    const out: string[] = []
    const tail = this.splitter.flush()
    if (tail && !this.done) this.block(tail, out)
    if (!this.done) this.fail(out, 'api_error', 'The upstream stream ended before the answer was complete.')
    return out
  }

  /** Reading the internal stream failed. */
  broken(reason: string): string[] {
    const out: string[] = []
    if (!this.done) this.fail(out, 'api_error', `The upstream stream failed: ${reason}`)
    return out
  }

  private fail(out: string[], type: AnthropicErrorType, message: string) {
    this.done = true
    out.push(event('error', { error: { type, message } }))
  }

  private block(block: string, out: string[]) {
    const ev = parseEventBlock(block)
    if (!ev?.data) return
    if (ev.data === '[DONE]') return this.stop(out)
    let chunk: Obj
    try {
      chunk = JSON.parse(ev.data)
    } catch {
      return this.fail(out, 'api_error', 'The upstream sent malformed JSON in its stream.')
    }
    if (chunk?.error && typeof chunk.error === 'object') {
      return this.fail(out, streamErrorType(chunk.error), String(chunk.error.message ?? 'upstream error'))
    }
    this.start(out, chunk)
    if (chunk.usage) this.usage = chunk.usage
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined
    if (!choice) return
    const d = choice.delta ?? {}
    if (typeof d.content === 'string' && d.content) this.text(out, d.content)
    if (typeof d.refusal === 'string' && d.refusal) {
      this.refused = true
      this.text(out, d.refusal)
    }
    if (Array.isArray(d.tool_calls)) for (const tc of d.tool_calls) this.tool(out, tc)
    if (choice.finish_reason) {
      this.finish = choice.finish_reason
      this.matched = choice.stop_reason
    }
  }

  private start(out: string[], chunk: Obj) {
    if (this.started) return
    this.started = true
    const usage = { input_tokens: this.opts.inputEstimate ?? 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
    const model = typeof chunk.model === 'string' && chunk.model ? chunk.model : this.opts.model
    const message = { id: messageId(chunk.id), type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, stop_details: null, usage }
    out.push(event('message_start', { message }))
  }

  private openBlock(out: string[], contentBlock: Obj, tool?: Tool) {
    const index = this.next++
    this.open = { index, tool }
    if (tool) tool.index = index
    out.push(event('content_block_start', { index, content_block: contentBlock }))
    if (!this.pinged) {
      this.pinged = true
      out.push(event('ping', {}))
    }
  }

  private closeBlock(out: string[]) {
    if (!this.open) return
    if (this.open.tool) this.open.tool.closed = true
    out.push(event('content_block_stop', { index: this.open.index }))
    this.open = undefined
  }

  /** Close the open block and give every held tool its block: nothing more will come for them. */
  private closeAll(out: string[]) {
    this.closeBlock(out)
    for (const t of this.held.splice(0)) {
      this.startTool(out, t)
      this.closeBlock(out)
    }
  }

  private text(out: string[], text: string) {
    if (!this.open || this.open.tool) {
      this.closeAll(out)
      this.openBlock(out, { type: 'text', text: '' })
    }
    out.push(textDelta(this.open!.index, text))
  }

  private startTool(out: string[], t: Tool) {
    this.openBlock(out, { type: 'tool_use', id: t.id, name: t.name, input: {} }, t)
    if (t.args) out.push(event('content_block_delta', { index: t.index, delta: { type: 'input_json_delta', partial_json: t.args } }))
  }

  /**
   * Tool calls stream one after another from OpenAI and vLLM, but a backend may
   * interleave them. Anthropic's blocks never overlap, so the open tool streams
   * live and a tool that starts meanwhile is held until the open one's
   * arguments are whole JSON (then it cannot grow) or the answer moves on.
   */
  private tool(out: string[], tc: Obj) {
    const key = typeof tc.index === 'number' ? tc.index : 0
    const args = typeof tc.function?.arguments === 'string' ? tc.function.arguments : ''
    let t = this.tools.get(key)
    if (!t) {
      t = { id: typeof tc.id === 'string' && tc.id ? tc.id : newId('toolu_'), name: String(tc.function?.name ?? ''), args: '', closed: false }
      this.tools.set(key, t)
      if (this.open?.tool) this.held.push(t)
      else {
        if (this.open) this.closeBlock(out)
        t.args = args
        return this.startTool(out, t)
      }
    } else if (!t.name && tc.function?.name) t.name = String(tc.function.name)
    if (this.open?.tool === t) {
      t.args += args
      if (args) out.push(event('content_block_delta', { index: t.index, delta: { type: 'input_json_delta', partial_json: args } }))
      return
    }
    if (t.closed) return // more for a tool whose arguments were already whole JSON: nothing valid can follow
    t.args += args
    this.advance(out)
  }

  /** While the open tool's arguments are complete, close it and let the first held tool stream. */
  private advance(out: string[]) {
    while (this.held.length && this.open?.tool && complete(this.open.tool.args)) {
      this.closeBlock(out)
      this.startTool(out, this.held.shift()!)
    }
  }

  private stop(out: string[]) {
    if (!this.started) this.start(out, {})
    this.closeAll(out)
    if (!this.pinged) {
      this.pinged = true
      out.push(event('ping', {}))
    }
    const { reason, sequence } = this.refused && this.finish === 'stop' ? { reason: 'refusal', sequence: null } : stopReason(this.finish, this.matched, this.opts.stopSequences)
    const u = toMessagesUsage(this.usage)
    if (!this.usage) u.input_tokens = this.opts.inputEstimate ?? 0
    out.push(event('message_delta', { delta: { stop_reason: reason, stop_sequence: sequence, stop_details: null }, usage: u }))
    out.push(event('message_stop', {}))
    this.done = true
  }
}

function complete(args: string): boolean {
  try {
    const v = JSON.parse(args)
    return typeof v === 'object' && v !== null && !Array.isArray(v)
  } catch {
    return false
  }
}

/**
 * Pipe the internal stream through the encoder; cancelling the result cancels
 * the upstream. Should reading the internal stream fail, the client still gets
 * Anthropic's error event rather than a dropped connection.
 */
export function toMessagesStream(body: ReadableStream<Uint8Array>, opts: EncoderOptions): ReadableStream<Uint8Array> {
  const decoder = new TextDecoder()
  const e = new MessagesStreamEncoder(opts)
  // One write per upstream read, whatever number of events it makes.
  const bytes = (events: string[]) => (events.length ? [enc.encode(events.join(''))] : [])
  return pumpChunks(
    body,
    {
      push: (chunk) => bytes(e.push(decoder.decode(chunk, { stream: true }))),
      end: () => bytes([...e.push(decoder.decode()), ...e.end()]),
      broken: (reason) => bytes(e.broken(reason)),
      get finished() {
        return e.done
      },
    },
    true,
  )
}
