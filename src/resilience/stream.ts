// Streams, made safe to fail over. `openStream` reads an OpenAI SSE stream
// only until its first real content (holding back the role preamble), so a
// failure before that is an UpstreamError the caller can fail over on. What
// it returns streams the rest through as it arrives, reads usage on the way,
// and turns any later failure into an error event: never a clean-looking
// end of a cut answer.
import { SseSplitter, parseEventBlock } from '../api/sse.ts'
import { UpstreamError, fromFetchError } from '../providers/errors.ts'
import type { Usage } from '../providers/types.ts'
import { noScrubber, type Scrubber } from '../telemetry/scrub.ts'

export interface StreamOutcome {
  usage?: Usage
  /** Set when the stream ended in an error event (ours or the upstream's). */
  error?: string
  /** The client went away before the end. */
  cancelled?: boolean
  /** Data events passed on (not [DONE]): about one token each, for an estimate when no usage came. */
  chunks: number
}

export interface OpenedStream {
  body: ReadableStream<Uint8Array>
  /** Settles when the client's stream has ended, however it ended. */
  done: Promise<StreamOutcome>
}

export interface StreamOptions {
  /** Drop the usage-only chunk (the gateway asked for it; the client did not). */
  stripUsage: boolean
  /** Longest wait for the next upstream bytes once streaming. */
  idleTimeoutMs: number
  /** Aborts the upstream request (client gone, timeout). */
  abort: (reason: unknown) => void
  signal: AbortSignal
  /** Masks the gateway's secrets in error events and messages (an upstream may echo our key). */
  scrub?: Scrubber
}

const enc = new TextEncoder()
const HAS_USAGE = /"usage":\s*\{/
const encodeBlock = (block: string) => enc.encode(`${block}\n\n`)

export function streamErrorEvent(message: string, code: string): Uint8Array {
  return encodeBlock(`data: ${JSON.stringify({ error: { message, type: 'upstream_error', param: null, code } })}`)
}

/** A chunk that carries something the client must see: text, tool calls, a finish reason. */
function isContent(chunk: { choices?: Array<{ delta?: Record<string, unknown>; text?: string; finish_reason?: unknown }> }): boolean {
  for (const c of chunk.choices ?? []) {
    if (c.finish_reason) return true
    if (typeof c.text === 'string' && c.text) return true
    const d = c.delta
    if (!d) continue
    for (const [k, v] of Object.entries(d)) {
      if (k === 'role') continue
      if (v !== null && v !== undefined && v !== '') return true
    }
  }
  return false
}

function errorOf(data: string): UpstreamError | undefined {
  if (!data.startsWith('{"error"') && !data.includes('"error":{')) return undefined
  try {
    const e = (JSON.parse(data) as { error?: { message?: string; code?: string; type?: string } }).error
    if (!e) return undefined
    const hint = `${e.code ?? ''} ${e.type ?? ''} ${e.message ?? ''}`
    const cls = /context_length|prompt is too long/.test(hint) ? 'context_window' : /rate_limit/.test(hint) ? 'rate_limit' : 'server'
    return new UpstreamError(cls, e.message ?? 'error event in stream', undefined, undefined, e.code ?? e.type)
  } catch {
    return undefined
  }
}

class EventReader {
  private splitter = new SseSplitter()
  private decoder = new TextDecoder()
  private queue: string[] = []
  private ended = false

  constructor(readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  /** The next complete event block, or undefined at the end of the stream. */
  async next(): Promise<string | undefined> {
    while (!this.queue.length) {
      if (this.ended) return undefined
      const { value, done } = await this.reader.read()
      if (done) {
        this.ended = true
        const tail = this.splitter.flush()
        if (tail) this.queue.push(tail)
      } else {
        this.queue.push(...this.splitter.push(this.decoder.decode(value, { stream: true })))
      }
    }
    return this.queue.shift()
  }

  /** Blocks already received but not yet handed out. */
  drain(): string[] {
    return this.queue.splice(0)
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onTimeout()
        reject(new UpstreamError('timeout', `no data for ${ms} ms`))
      }, ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

/**
 * Waits for the first content. Throws UpstreamError when the stream fails,
 * sends an error event or ends before any content: the caller can still
 * fail over, since the client has seen nothing.
 */
export async function openStream(upstream: ReadableStream<Uint8Array>, opts: StreamOptions): Promise<OpenedStream> {
  const reader = upstream.getReader()
  const events = new EventReader(reader)
  const held: string[] = []
  const outcome: StreamOutcome = { chunks: 0 }
  const scrub = opts.scrub ?? noScrubber
  let sawDone = false

  const read = () => withTimeout(events.next(), opts.idleTimeoutMs, () => opts.abort(new UpstreamError('timeout', 'stalled stream')))

  /** Looks at one block; returns false to drop it from the client's stream. */
  const inspect = (block: string): boolean => {
    const ev = parseEventBlock(block)
    if (!ev) return true
    if (ev.data === '[DONE]') {
      sawDone = true
      return true
    }
    outcome.chunks++
    // OpenAI puts "usage":null on every chunk once usage is asked for: parse only a real one.
    if (HAS_USAGE.test(ev.data)) {
      try {
        const chunk = JSON.parse(ev.data) as { usage?: Usage | null; choices?: unknown[] }
        if (chunk.usage) outcome.usage = chunk.usage
        if (opts.stripUsage && chunk.usage && Array.isArray(chunk.choices) && chunk.choices.length === 0) return false
      } catch {
        /* not JSON: passed on as is */
      }
    }
    return true
  }

  try {
    for (;;) {
      const block = await read()
      if (block === undefined) throw new UpstreamError('bad_response', 'stream ended before any content')
      const ev = parseEventBlock(block)
      if (!ev) continue
      if (ev.data === '[DONE]') throw new UpstreamError('bad_response', 'stream ended before any content')
      const err = errorOf(ev.data)
      if (err) throw err
      let chunk: Parameters<typeof isContent>[0]
      try {
        chunk = JSON.parse(ev.data)
      } catch {
        throw new UpstreamError('bad_response', 'malformed JSON in stream')
      }
      if (inspect(block)) held.push(block)
      if (isContent(chunk)) break
    }
  } catch (err) {
    reader.cancel().catch(() => {})
    throw err instanceof UpstreamError ? err : fromFetchError(err, opts.signal)
  }

  let resolveDone!: (o: StreamOutcome) => void
  const done = new Promise<StreamOutcome>((r) => (resolveDone = r))
  const finish = (ctrl: ReadableStreamDefaultController<Uint8Array>, error?: { message: string; code: string }) => {
    if (error) {
      outcome.error = scrub.scrub(error.message)
      ctrl.enqueue(streamErrorEvent(outcome.error, error.code))
    }
    ctrl.close()
    resolveDone(outcome)
  }

  const body = new ReadableStream<Uint8Array>({
    start(ctrl) {
      for (const b of held) ctrl.enqueue(encodeBlock(b))
    },
    async pull(ctrl) {
      // Loop until something is enqueued: a pull that enqueues nothing (a
      // dropped usage chunk) is never called again and the stream would stall.
      try {
        for (;;) {
          const ready = events.drain()
          if (!ready.length) {
            const block = await read()
            if (block === undefined) {
              return sawDone ? finish(ctrl) : finish(ctrl, { message: 'The upstream stream ended before the response was complete', code: 'upstream_stream_truncated' })
            }
            ready.push(block)
          }
          let sent = false
          for (const b of ready) {
            if (!inspect(b)) continue
            const ev = parseEventBlock(b)
            const err = ev && errorOf(ev.data)
            // The upstream's error event goes on in its own words, less any secret it quotes.
            ctrl.enqueue(encodeBlock(err ? scrub.scrub(b) : b))
            sent = true
            if (err) {
              outcome.error = scrub.scrub(err.message)
              reader.cancel().catch(() => {})
              ctrl.close()
              return resolveDone(outcome)
            }
          }
          if (sent) return
        }
      } catch (err) {
        const e = err instanceof UpstreamError ? err : fromFetchError(err, opts.signal)
        reader.cancel().catch(() => {})
        finish(ctrl, { message: `The upstream stream failed: ${e.message}`, code: e.cls === 'timeout' ? 'upstream_timeout' : 'upstream_stream_interrupted' })
      }
    },
    cancel(reason) {
      // The client went away: stop the upstream generating (and billing).
      outcome.cancelled = true
      opts.abort(reason ?? new Error('client disconnected'))
      reader.cancel(reason).catch(() => {})
      resolveDone(outcome)
    },
  })
  return { body, done }
}

/** A whole OpenAI response, delivered as the chunks a stream would have had. */
export function responseAsStream(res: Record<string, unknown>, includeUsage: boolean): ReadableStream<Uint8Array> {
  const base = { id: res.id, created: res.created, model: res.model }
  const blocks: unknown[] = []
  const choices = (res.choices ?? []) as Array<Record<string, any>>
  if (res.object === 'text_completion') {
    for (const c of choices) blocks.push({ ...base, object: 'text_completion', choices: [{ index: c.index ?? 0, text: c.text ?? '', logprobs: null, finish_reason: c.finish_reason ?? 'stop' }] })
  } else {
    for (const c of choices) {
      const msg = c.message ?? {}
      const toolCalls = Array.isArray(msg.tool_calls) ? msg.tool_calls.map((t: object, index: number) => ({ index, ...t })) : undefined
      blocks.push({ ...base, object: 'chat.completion.chunk', choices: [{ index: c.index ?? 0, delta: { role: 'assistant', content: msg.content ?? null, ...(toolCalls ? { tool_calls: toolCalls } : {}) }, finish_reason: null }] })
      blocks.push({ ...base, object: 'chat.completion.chunk', choices: [{ index: c.index ?? 0, delta: {}, finish_reason: c.finish_reason ?? 'stop' }] })
    }
  }
  if (includeUsage && res.usage) blocks.push({ ...base, object: 'chat.completion.chunk', choices: [], usage: res.usage })
  const text = blocks.map((b) => `data: ${JSON.stringify(b)}\n\n`).join('') + 'data: [DONE]\n\n'
  return new Response(text).body!
}
