// Streams, made safe to fail over. `openStream` reads an OpenAI SSE stream
// only until its first real content (holding back the role preamble), so a
// failure before that is an UpstreamError the caller can fail over on. What
// it returns streams the rest through as it arrives, reads usage on the way,
// and turns any later failure into an error event: never a clean-looking
// end of a cut answer.
import { SseSplitter, parseEventBlock } from '../api/sse.ts'
import { UpstreamError, fromFetchError } from '../providers/errors.ts'
import { LazyStream, claimBytes, webStream, type ByteReader, type ByteSource, type StreamBody, type Usage } from '../providers/types.ts'
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
  body: StreamBody
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

/** Splits upstream bytes into event blocks, and knows whether everything read so far ended on an event's end. */
class EventSplitter {
  private splitter = new SseSplitter()
  // Made only for bytes that may end inside a character: a TextDecoder costs ~3 µs to make on
  // Node 20 (its ICU converter, getConverter in a CPU profile), and most chunks are whole events.
  private decoder: TextDecoder | undefined
  private started = false
  /** Nothing is held back: no part of an event, no part of a character. */
  atBoundary = true

  /** `bytes` decoded alone when they are whole events after whole events (the stream's first dropping a BOM, as its decoder would); else undefined. */
  whole(bytes: Uint8Array): string | undefined {
    if (!this.atBoundary || !endsEvent(bytes)) return undefined
    const text = (this.started ? passDecoder : firstDecoder).decode(bytes)
    this.started = true
    return text
  }

  /** The complete event blocks `bytes` brings (`text`: what whole() made of them). */
  push(bytes: Uint8Array, text = this.whole(bytes)): string[] {
    if (text === undefined) {
      text = (this.decoder ??= new TextDecoder()).decode(bytes, { stream: true })
      this.started = true
    }
    this.atBoundary = endsEvent(bytes)
    return this.splitter.push(text)
  }

  /** An event left without its blank line when the stream ended. */
  flush(): string | undefined {
    return this.splitter.flush()
  }
}

/** Bytes that end with a blank line (LF LF): they leave nothing of an event or a character behind. */
const endsEvent = (b: Uint8Array) => b.length >= 2 && b[b.length - 1] === 10 && b[b.length - 2] === 10

// Keeps a BOM, as the careful way does after the stream's start: an event that starts with one is looked at.
const passDecoder = new TextDecoder('utf-8', { ignoreBOM: true })
// Drops a leading BOM, as a stream's decoder does at its start.
const firstDecoder = new TextDecoder()
/** What makes an event need a closer look: a CR to normalise, [DONE], "error", a usage object. */
const LOOK = /\r|\[DONE\]|"(?:error"|usage"\s*:\s*[^n\s])/

/**
 * The number of events in `bytes` (whole events, read from an event's start)
 * when each is a plain data event that may go on untouched: no [DONE], no
 * "error", no usage object, no CR, no other field. Else -1, and the bytes go
 * the careful way (split, parse, inspect, encode again). Measured per event
 * (CPU, a 300-byte chunk, 2026-12-06): the careful way ~2.5-3 µs, this
 * ~0.5 µs; the same checks by a loop over the bytes took ~0.7 µs, so the
 * text is searched instead.
 */
export function plainEvents(bytes: Uint8Array): number {
  return endsEvent(bytes) ? plainEventsIn(passDecoder.decode(bytes)) : -1
}

/** plainEvents for text decoded already. */
function plainEventsIn(text: string): number {
  if (!text.startsWith('data:') || LOOK.test(text)) return -1
  let n = 0
  for (let i = text.indexOf('\n\n'); ; i = text.indexOf('\n\n', i)) {
    n++
    i += 2
    if (i >= text.length) return n
    if (!text.startsWith('data:', i)) return -1
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

/** What openStream reads the upstream with: a Web stream's reader, or SourcePull over a ByteSource. */
interface Pull {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>
  cancel(reason?: unknown): Promise<void>
}

/** Bytes held for a read that has not come yet before the source is asked to wait. */
const PULL_HIGH_WATER = 64 * 1024

/**
 * Reads a ByteSource as a Web stream's reader would (until the first content,
 * and for a consumer that reads the body as a Web stream), and can hand the
 * source over to a reader of callbacks once the client's side takes them.
 */
class SourcePull implements Pull, ByteReader {
  private chunks: Uint8Array[] = []
  private size = 0
  private state: undefined | { error: unknown } | true
  private waiter: { resolve: (r: ReadableStreamReadResult<Uint8Array>) => void; reject: (e: unknown) => void } | undefined
  private next: ByteReader | undefined

  constructor(private readonly source: ByteSource) {
    source.read(this)
  }

  data(chunk: Uint8Array): boolean {
    if (this.next) return this.next.data(chunk)
    const w = this.waiter
    if (w) {
      this.waiter = undefined
      w.resolve({ done: false, value: chunk })
      return true
    }
    this.chunks.push(chunk)
    return (this.size += chunk.byteLength) <= PULL_HIGH_WATER
  }
  end(): void {
    if (this.next) return this.next.end()
    this.state = true
    this.waiter?.resolve({ done: true, value: undefined })
    this.waiter = undefined
  }
  error(err: unknown): void {
    if (this.next) return this.next.error(err)
    this.state = { error: err }
    this.waiter?.reject(err)
    this.waiter = undefined
  }

  read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    const c = this.chunks.shift()
    if (c) {
      this.size -= c.byteLength
      if (!this.chunks.length) this.source.resume()
      return Promise.resolve({ done: false, value: c })
    }
    const s = this.state
    if (s) return s === true ? Promise.resolve({ done: true, value: undefined }) : Promise.reject(s.error)
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }))
  }
  cancel(reason?: unknown): Promise<void> {
    this.source.cancel(reason instanceof Error ? reason : undefined)
    return Promise.resolve()
  }

  /** From now on the bytes go to `reader`: those held first (no read may be pending). */
  handOver(reader: ByteReader): void {
    this.next = reader
    const held = this.chunks
    this.chunks = []
    this.size = 0
    for (const c of held) reader.data(c)
    const s = this.state
    if (s) s === true ? reader.end() : reader.error(s.error)
    else this.source.resume()
  }
}

/** Where the client's bytes go: the body's Web stream, or the runtime's reader of callbacks. */
interface Out {
  /** False: the client has enough for now. */
  put(b: Uint8Array): boolean
  close(): void
}

/**
 * Waits for the first content. Throws UpstreamError when the stream fails,
 * sends an error event or ends before any content: the caller can still
 * fail over, since the client has seen nothing.
 *
 * The upstream is read through its ByteSource when it offers one, and the
 * returned body offers one too: when the runtime's server claims it, each
 * upstream chunk goes from the upstream's callback to the client's socket
 * with no Web stream and no promise between (see ByteSource for why).
 */
export async function openStream(upstream: StreamBody, opts: StreamOptions): Promise<OpenedStream> {
  const source = claimBytes(upstream)
  const sourcePull = source && new SourcePull(source)
  const reader: Pull = sourcePull ?? webStream(upstream).getReader()
  const split = new EventSplitter()
  const held: string[] = []
  let queue: string[] = []
  const outcome: StreamOutcome = { chunks: 0 }
  const scrub = opts.scrub ?? noScrubber
  let sawDone = false
  const stalled = () => opts.abort(new UpstreamError('timeout', 'stalled stream'))

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

  // Until the first content: block by block, each read under the idle timeout (a few events at most).
  try {
    for (;;) {
      if (!queue.length) {
        const r = await withTimeout(reader.read(), opts.idleTimeoutMs, stalled)
        if (r.done) {
          const tail = split.flush()
          if (tail === undefined) throw new UpstreamError('bad_response', 'stream ended before any content')
          queue.push(tail)
        } else queue = split.push(r.value)
        continue
      }
      const block = queue.shift()!
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
  let ended = false
  // Set when the body is claimed (direct.read) or its Web stream made: the upstream is not read before.
  let out!: Out
  /** What was held back and the first content, in one write, before anything else goes out. */
  let first: Uint8Array | undefined = enc.encode(held.map((b) => `${b}\n\n`).join(''))
  const flushFirst = (): boolean | undefined => {
    const f = first
    first = undefined
    return f && out.put(f)
  }
  const put = (b: Uint8Array): boolean => {
    if (first) flushFirst()
    return out.put(b)
  }
  const cancelUpstream = () => void reader.cancel().catch(() => {})
  const end = (error?: { message: string; code: string }) => {
    if (ended) return
    ended = true
    clearTimeout(idle)
    if (error) {
      outcome.error = scrub.scrub(error.message)
      put(streamErrorEvent(outcome.error, error.code))
    } else flushFirst()
    out.close()
    resolveDone(outcome)
  }

  // The idle timeout from here on: one timer that looks at when the pending read began, not a timer
  // per read (setting and clearing one and racing two promises cost ~2 µs of CPU per event, this ~0.3).
  // It counts only while a read is pending: a slow client holding the stream back is no stalled upstream.
  let waitingSince = 0 // 0: no read pending
  let idle: ReturnType<typeof setTimeout> | undefined
  const watch = (ms: number) => {
    idle = setTimeout(() => {
      if (ended) return
      const waited = waitingSince ? Date.now() - waitingSince : 0
      if (waited < opts.idleTimeoutMs) return watch(opts.idleTimeoutMs - waited)
      // Ended first: the abort can fail a callback source at once, and this says why.
      end({ message: `The upstream stream failed: no data for ${opts.idleTimeoutMs} ms`, code: 'upstream_timeout' })
      stalled()
      cancelUpstream()
    }, ms)
  }

  /** The client can take more (false: it said "enough for now" to the last write). */
  let flowing = true
  /** Sends the blocks the careful way; returns true when anything went to the client or the stream ended. */
  const send = (blocks: string[]): boolean => {
    let sent = false
    for (const b of blocks) {
      if (!inspect(b)) continue
      const ev = parseEventBlock(b)
      const err = ev && errorOf(ev.data)
      // The upstream's error event goes on in its own words, less any secret it quotes.
      flowing = put(encodeBlock(err ? scrub.scrub(b) : b))
      sent = true
      if (err) {
        outcome.error = scrub.scrub(err.message)
        cancelUpstream()
        ended = true
        clearTimeout(idle)
        out.close()
        resolveDone(outcome)
        return true
      }
    }
    return sent
  }
  /** One upstream chunk: true when it went on as it came (whole plain events), else its blocks are queued. */
  const take = (bytes: Uint8Array): boolean => {
    // Whole plain events after whole events: on as they came, not split and encoded again.
    const text = split.whole(bytes)
    const n = text === undefined ? -1 : plainEventsIn(text)
    if (n >= 0) {
      outcome.chunks += n
      flowing = put(bytes)
      return true
    }
    queue = split.push(bytes, text)
    return false
  }
  /** The upstream ended. */
  const finish = () => {
    const tail = split.flush()
    if (tail !== undefined && send([tail]) && ended) return
    return sawDone ? end() : end({ message: 'The upstream stream ended before the response was complete', code: 'upstream_stream_truncated' })
  }
  /** The upstream failed. */
  const fail = (err: unknown) => {
    waitingSince = 0
    if (ended) return
    const e = err instanceof UpstreamError ? err : fromFetchError(err, opts.signal)
    cancelUpstream()
    end({ message: `The upstream stream failed: ${e.message}`, code: e.cls === 'timeout' ? 'upstream_timeout' : 'upstream_stream_interrupted' })
  }
  const cancel = (reason: unknown) => {
    // The client went away: stop the upstream generating (and billing).
    if (ended) return
    ended = true
    clearTimeout(idle)
    outcome.cancelled = true
    opts.abort(reason ?? new Error('client disconnected'))
    reader.cancel(reason).catch(() => {})
    resolveDone(outcome)
  }

  // The client's side read by callbacks: upstream chunks are handled as they come and written at once.
  const pushed: ByteReader = {
    data(c) {
      if (ended) return true
      if (!take(c)) {
        const ready = queue
        queue = []
        send(ready)
      }
      waitingSince = flowing ? Date.now() : 0
      return flowing
    },
    end: () => {
      waitingSince = 0
      if (!ended) finish()
    },
    error: fail,
  }
  /** A Web stream upstream, read in a loop for a client's side read by callbacks. */
  let pumping = false
  const pump = async () => {
    if (pumping) return
    pumping = true
    try {
      while (!ended && flowing) {
        waitingSince = Date.now()
        const r = await reader.read()
        waitingSince = 0
        if (ended) break
        if (r.done) {
          finish()
          break
        }
        pushed.data(r.value)
      }
    } catch (err) {
      fail(err)
    }
    pumping = false
  }
  const direct: ByteSource = {
    read(client) {
      out = { put: (b) => client.data(b), close: () => client.end() }
      flowing = flushFirst() !== false
      if (queue.length) {
        const ready = queue
        queue = []
        send(ready)
      }
      if (ended) return
      // A client that is full already is no stalled upstream: nothing is waited for until it resumes.
      waitingSince = flowing ? Date.now() : 0
      if (sourcePull) sourcePull.handOver(pushed)
      else void pump()
    },
    resume() {
      if (ended || flowing) return
      flowing = true
      waitingSince = Date.now()
      if (sourcePull) source!.resume()
      else void pump()
    },
    cancel,
  }

  const makeWeb = () => new ReadableStream<Uint8Array>(
    {
      start(ctrl) {
        out = {
          put: (b) => {
            ctrl.enqueue(b)
            return true
          },
          close: () => ctrl.close(),
        }
      },
      async pull() {
        if (first) return void flushFirst()
        // Loop until something is enqueued: a pull that enqueues nothing (a
        // dropped usage chunk) is never called again and the stream would stall.
        try {
          for (;;) {
            if (queue.length) {
              const ready = queue
              queue = []
              if (send(ready)) return
              continue
            }
            waitingSince = Date.now()
            const r = await reader.read()
            waitingSince = 0
            if (ended) return
            if (r.done) return finish()
            if (take(r.value)) return
          }
        } catch (err) {
          fail(err)
        }
      },
      cancel,
    },
    // Nothing is pulled before a read asks: the runtime's server may claim the bytes instead.
    { highWaterMark: 0 },
  )
  // The runtime's server claims the bytes (direct) before it would read a Web stream: none is made then.
  const body = new LazyStream(makeWeb, () => (ended ? undefined : direct))
  watch(opts.idleTimeoutMs)
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
