// The internal chat SSE stream -> the Responses API's typed events, as OpenAI
// sends them: response.created, response.in_progress, then per output item
// output_item.added, its parts and deltas, their .done events and
// output_item.done, one item closed before the next opens; then
// response.completed (or response.incomplete when cut at max_output_tokens)
// with usage. A failure becomes an `error` event and response.failed. Every
// event carries sequence_number from 0. Each chunk is translated as it
// arrives: nothing waits for the end but the final event.
import { SseSplitter, parseEventBlock } from '../sse.ts'
import { drainAll } from '../../providers/sse-translator.ts'
import type { Item } from './schema.ts'
import { itemId, responseObject, statusOf, toResponseUsage, type Turn } from './turn.ts'

type Obj = Record<string, unknown>

export interface StreamHooks {
  /** The finished response, before its final event is sent: that event waits for this (the store write). */
  finished(response: Obj): Promise<void>
  now(): number
}

interface Open {
  index: number
  item: Item
  /** The message's open content part. */
  part?: { kind: 'text' | 'refusal'; index: number; text: string }
}

const enc = new TextEncoder()

class Translator {
  #seq = 0
  #started = false
  #ended = false
  readonly #output: Item[] = []
  #current?: Open
  /** Chat tool_calls index -> its function_call item. */
  readonly #calls = new Map<number, Open>()
  #model?: string
  #finish?: unknown
  #usage?: unknown

  /** Events not yet handed on: each upstream read's events go out as one chunk. */
  #pending = ''

  constructor(
    private readonly t: Turn,
    private readonly hooks: StreamHooks,
  ) {}

  /** The events so far, as bytes (undefined when none). */
  drain(): Uint8Array | undefined {
    if (!this.#pending) return undefined
    const b = enc.encode(this.#pending)
    this.#pending = ''
    return b
  }

  get ended(): boolean {
    return this.#ended
  }

  #emit(type: string, fields: Obj): void {
    this.#pending += `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: this.#seq++, ...fields })}\n\n`
  }

  #start(): void {
    if (this.#started) return
    this.#started = true
    const response = responseObject(this.t, { status: 'in_progress', output: [], model: this.#model })
    this.#emit('response.created', { response })
    this.#emit('response.in_progress', { response })
  }

  chunk(c: Obj): void {
    if (typeof c.model === 'string') this.#model ??= c.model
    this.#start()
    if (c.usage) this.#usage = c.usage
    const choice = (c.choices as Obj[] | undefined)?.[0]
    if (!choice) return
    const d = (choice.delta as Obj | undefined) ?? {}
    if (typeof d.refusal === 'string' && d.refusal) this.#text('refusal', d.refusal)
    if (typeof d.content === 'string' && d.content) this.#text('text', d.content)
    if (Array.isArray(d.tool_calls)) for (const tc of d.tool_calls as Obj[]) this.#toolDelta(tc)
    if (choice.finish_reason) this.#finish = choice.finish_reason
  }

  #text(kind: 'text' | 'refusal', delta: string): void {
    let m = this.#current
    if (!m || m.item.type !== 'message') {
      this.#close('completed')
      m = this.#open({ id: itemId('msg', this.t.hex, 'output', this.#output.length), type: 'message', status: 'in_progress', content: [], role: 'assistant' })
    }
    if (m.part?.kind !== kind) {
      this.#closePart(m)
      const index = (m.item.content as Obj[]).length
      m.part = { kind, index, text: '' }
      this.#emit('response.content_part.added', { ...where(m, index), part: kind === 'text' ? { type: 'output_text', annotations: [], text: '' } : { type: 'refusal', refusal: '' } })
    }
    m.part.text += delta
    // Most events are this one: written out directly, the same JSON #emit makes, without its objects.
    if (kind === 'text') this.#pending += `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":${this.#seq++},"item_id":${JSON.stringify(m.item.id)},"output_index":${m.index},"content_index":${m.part.index},"delta":${JSON.stringify(delta)},"logprobs":[]}\n\n`
    else this.#emit('response.refusal.delta', { ...where(m, m.part.index), delta })
  }

  #toolDelta(tc: Obj): void {
    const idx = typeof tc.index === 'number' ? tc.index : 0
    const fn = (tc.function as Obj | undefined) ?? {}
    let call = this.#calls.get(idx)
    if (!call) {
      this.#close('completed')
      const callId = typeof tc.id === 'string' ? tc.id : `call_${this.t.hex}${idx}`
      call = this.#open({ id: itemId('fc', this.t.hex, 'output', this.#output.length), type: 'function_call', status: 'in_progress', arguments: '', call_id: callId, name: typeof fn.name === 'string' ? fn.name : '' })
      this.#calls.set(idx, call)
    }
    const args = fn.arguments
    if (typeof args !== 'string' || !args) return
    // OpenAI finishes one call before the next; a backend that interleaves them still gets
    // every delta through, and the final response carries each call's whole arguments.
    call.item.arguments = (call.item.arguments as string) + args
    this.#emit('response.function_call_arguments.delta', { item_id: call.item.id, output_index: call.index, delta: args })
  }

  #open(item: Item): Open {
    const o: Open = { index: this.#output.length, item }
    this.#output.push(item)
    this.#current = o
    this.#emit('response.output_item.added', { output_index: o.index, item })
    return o
  }

  #closePart(m: Open): void {
    const p = m.part
    if (!p) return
    m.part = undefined
    const part = p.kind === 'text' ? { type: 'output_text', annotations: [], text: p.text } : { type: 'refusal', refusal: p.text }
    if (p.kind === 'text') this.#emit('response.output_text.done', { ...where(m, p.index), text: p.text, logprobs: [] })
    else this.#emit('response.refusal.done', { ...where(m, p.index), refusal: p.text })
    this.#emit('response.content_part.done', { ...where(m, p.index), part })
    ;(m.item.content as Obj[]).push(part)
  }

  #close(status: 'completed' | 'incomplete'): void {
    const m = this.#current
    if (!m) return
    this.#current = undefined
    if (m.item.type === 'message') this.#closePart(m)
    else this.#emit('response.function_call_arguments.done', { item_id: m.item.id, output_index: m.index, arguments: m.item.arguments, name: m.item.name })
    m.item.status = status
    this.#emit('response.output_item.done', { output_index: m.index, item: m.item })
  }

  /** The upstream finished ([DONE], or its end after a finish_reason). `flush` hands on what is ready before the store write. */
  async complete(flush: () => void): Promise<void> {
    this.#ended = true
    this.#start()
    const { status, incomplete } = statusOf(this.#finish)
    this.#close(status)
    const response = responseObject(this.t, {
      status,
      output: this.#output,
      model: this.#model,
      usage: toResponseUsage(this.#usage),
      incomplete,
      completedAt: Math.floor(this.hooks.now() / 1000),
    })
    flush()
    await this.hooks.finished(response)
    this.#emit(status === 'completed' ? 'response.completed' : 'response.incomplete', { response })
  }

  /**
   * The upstream failed after the stream began. OpenAI documents the `error` event's fields at
   * its top level (and the SDK types say so) but sends them nested under `error` (which the
   * openai SDKs throw on): both, so every client sees the failure.
   */
  fail(message: string, code: string | null, type = 'server_error'): void {
    if (this.#ended) return
    this.#ended = true
    this.#start()
    if (this.#current) this.#current.item.status = 'incomplete'
    this.#emit('error', { code, message, param: null, error: { type, code, message, param: null } })
    const failure = { code: /rate_limit/.test(`${code} ${type}`) ? 'rate_limit_exceeded' : 'server_error', message }
    this.#emit('response.failed', { response: responseObject(this.t, { status: 'failed', output: this.#output, model: this.#model, usage: toResponseUsage(this.#usage), error: failure }) })
  }

  /** One SSE block of the internal stream; a promise only when it completes the response (the store write). */
  block(block: string, flush: () => void): Promise<void> | undefined {
    if (this.#ended) return
    const ev = parseEventBlock(block)
    if (!ev || !ev.data) return
    if (ev.data === '[DONE]') return this.complete(flush)
    let data: Obj
    try {
      data = JSON.parse(ev.data) as Obj
    } catch {
      this.fail('The upstream sent an event that is not JSON.', 'invalid_upstream_event')
      return
    }
    const err = data.error as Obj | undefined
    if (err && typeof err === 'object') this.fail(String(err.message ?? 'The upstream failed'), typeof err.code === 'string' ? err.code : null, typeof err.type === 'string' ? err.type : undefined)
    else this.chunk(data)
  }

  /** The internal stream ended: without [DONE] it is complete only if the model said it finished. */
  end(flush: () => void): Promise<void> | undefined {
    if (this.#ended) return
    if (this.#finish) return this.complete(flush)
    this.fail('The upstream stream ended before the response was complete.', 'stream_truncated')
  }
}

const where = (m: Open, contentIndex: number) => ({ item_id: m.item.id, output_index: m.index, content_index: contentIndex })

/**
 * Translates the internal chat SSE bytes to Responses API SSE bytes, read by pull (one stream,
 * not a TransformStream and its pipe: measured cheaper per event). Cancelling the result cancels
 * the internal stream; once the response is complete the rest is drained, not cancelled.
 */
export function toResponsesStream(body: ReadableStream<Uint8Array>, t: Turn, hooks: StreamHooks): ReadableStream<Uint8Array> {
  const splitter = new SseSplitter()
  const decoder = new TextDecoder()
  const tr = new Translator(t, hooks)
  const reader = body.getReader()
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      let sent = false
      const flush = () => {
        const b = tr.drain()
        if (b) (sent = true), ctrl.enqueue(b)
      }
      // Read until something can be sent: a pull that enqueues nothing is not called again.
      for (;;) {
        let last = false
        let blocks: string[] = []
        try {
          const { value, done } = await reader.read()
          last = done
          blocks = splitter.push(done ? decoder.decode() : decoder.decode(value, { stream: true }))
          if (done) {
            const tail = splitter.flush()
            if (tail) blocks.push(tail)
          }
        } catch (err) {
          last = true
          tr.fail(`The upstream stream failed: ${err instanceof Error ? err.message : String(err)}`, 'stream_interrupted')
        }
        // Synchronous but for the store write at the end: a promise per chunk costs more than the translation.
        let waiting: Promise<void> | undefined
        for (let i = 0; i < blocks.length && !waiting; i++) waiting = tr.block(blocks[i]!, flush)
        if (!waiting && last) waiting = tr.end(flush)
        if (waiting) await waiting
        flush()
        if (tr.ended || last) {
          if (!last) drainAll(reader).catch(() => {})
          return ctrl.close()
        }
        if (sent) return
      }
    },
    cancel(reason) {
      return reader.cancel(reason).catch(() => {})
    },
  })
}
