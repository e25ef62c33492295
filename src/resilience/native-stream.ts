// A client's own protocol streamed through untouched (an Anthropic stream to
// a Messages client, a Responses stream to a Responses client), made as safe
// as a translated one (stream.ts): events are held until the first content,
// so a failure before it is an UpstreamError the attempt loop can fail over
// on; after it every event passes as it came, usage is read on the way, and
// a failure becomes an error event in the protocol's own words, never a
// clean-looking end of a cut answer. The protocol's specifics are its
// provider's StreamDialect.
import { SseSplitter, parseEventBlock } from '../api/sse.ts'
import { UpstreamError, fromFetchError, fromResponse } from '../providers/errors.ts'
import type { StreamDialect } from '../providers/types.ts'
import { noScrubber } from '../telemetry/scrub.ts'
import type { OpenedStream, StreamOptions, StreamOutcome } from './stream.ts'

const enc = new TextEncoder()
const encodeBlock = (block: string) => enc.encode(`${block}\n\n`)

interface Event {
  block: string
  type: string
  /** The parsed data; undefined when it is not a JSON object. */
  data?: Record<string, any>
}

/** Upstream bytes as whole events, with a limit on how long any read may wait. */
class Events {
  private splitter = new SseSplitter()
  private decoder = new TextDecoder()
  private queue: string[] = []
  private ended = false

  constructor(
    readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    private idleMs: number,
    private onIdle: () => void,
  ) {}

  /** The next event (comments and empty blocks skipped), or undefined at the end of the stream. */
  async next(): Promise<Event | undefined> {
    for (;;) {
      while (!this.queue.length) {
        if (this.ended) return undefined
        const { value, done } = await this.read()
        if (done) {
          this.ended = true
          const tail = this.splitter.flush()
          if (tail) this.queue.push(tail)
        } else this.queue.push(...this.splitter.push(this.decoder.decode(value, { stream: true })))
      }
      const block = this.queue.shift()!
      const ev = parseEventBlock(block)
      if (!ev) continue
      let data: Record<string, any> | undefined
      try {
        const j = JSON.parse(ev.data)
        if (j && typeof j === 'object' && !Array.isArray(j)) data = j
      } catch {
        /* not JSON: the caller decides */
      }
      return { block, type: typeof data?.type === 'string' ? data.type : (ev.event ?? ''), data }
    }
  }

  private read() {
    let timer: ReturnType<typeof setTimeout> | undefined
    return Promise.race([
      this.reader.read(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          this.onIdle()
          reject(new UpstreamError('timeout', `no data for ${this.idleMs} ms`))
        }, this.idleMs)
      }),
    ]).finally(() => clearTimeout(timer))
  }
}

/** The upstream's failure event, classified as its status and body would be; undefined (no promise) for any other event. */
function failureOf(dialect: StreamDialect, ev: Event): Promise<UpstreamError> | undefined {
  const e = ev.data && dialect.errorOf(ev.type, ev.data)
  return e ? fromResponse(new Response(e.body, { status: e.status })) : undefined
}

/**
 * Waits for the first content. Throws UpstreamError when the stream fails,
 * reports a failure or ends before any content: the client has seen
 * nothing, so the caller can still fail over. `stripUsage` does not apply:
 * a native stream is the client's own, usage and all.
 */
export async function openNativeStream(upstream: ReadableStream<Uint8Array>, dialect: StreamDialect, opts: StreamOptions): Promise<OpenedStream> {
  const reader = upstream.getReader()
  const events = new Events(reader, opts.idleTimeoutMs, () => opts.abort(new UpstreamError('timeout', 'stalled stream')))
  const held: string[] = []
  const outcome: StreamOutcome = { chunks: 0 }
  const scrub = opts.scrub ?? noScrubber
  let ended = false

  const note = (ev: Event) => {
    outcome.chunks++
    if (!ev.data) return
    const usage = dialect.usageOf(ev.type, ev.data)
    if (usage) outcome.usage = usage
    if (dialect.isEnd(ev.type, ev.data)) ended = true
  }

  try {
    for (;;) {
      const ev = await events.next()
      if (ev === undefined) throw new UpstreamError('bad_response', 'stream ended before any content')
      if (!ev.data) throw new UpstreamError('bad_response', 'malformed JSON in stream')
      const failure = failureOf(dialect, ev)
      if (failure) throw await failure
      note(ev)
      held.push(ev.block)
      if (dialect.isContent(ev.type, ev.data)) break
      if (ended) throw new UpstreamError('bad_response', 'stream ended before any content')
    }
  } catch (err) {
    reader.cancel().catch(() => {})
    throw err instanceof UpstreamError ? err : fromFetchError(err, opts.signal)
  }

  let resolveDone!: (o: StreamOutcome) => void
  const done = new Promise<StreamOutcome>((r) => (resolveDone = r))
  const close = (ctrl: ReadableStreamDefaultController<Uint8Array>) => {
    // Also after the protocol's last event: whatever follows it is not read, and the connection is let go.
    reader.cancel().catch(() => {})
    ctrl.close()
    resolveDone(outcome)
  }
  /** Our own error event, for a stream that broke or stopped short. */
  const fail = (ctrl: ReadableStreamDefaultController<Uint8Array>, message: string, code: string) => {
    outcome.error = scrub.scrub(message)
    ctrl.enqueue(encodeBlock(dialect.errorEvent(outcome.error, code)))
    close(ctrl)
  }

  const body = new ReadableStream<Uint8Array>({
    start(ctrl) {
      for (const b of held) ctrl.enqueue(encodeBlock(b))
      if (ended) close(ctrl)
    },
    async pull(ctrl) {
      try {
        const ev = await events.next()
        if (ev === undefined) {
          // The upstream already said it failed: its own error event is the end the client gets.
          if (outcome.error) return close(ctrl)
          return fail(ctrl, 'The upstream stream ended before the response was complete', 'upstream_stream_truncated')
        }
        const failure = failureOf(dialect, ev)
        const err = failure && (await failure)
        // The upstream's failure goes on in its own words, less any secret it quotes.
        ctrl.enqueue(encodeBlock(err ? scrub.scrub(ev.block) : ev.block))
        if (err) outcome.error ??= scrub.scrub(err.message)
        note(ev)
        if (ended) close(ctrl)
      } catch (err) {
        const e = err instanceof UpstreamError ? err : fromFetchError(err, opts.signal)
        fail(ctrl, `The upstream stream failed: ${e.message}`, e.cls === 'timeout' ? 'upstream_timeout' : 'upstream_stream_interrupted')
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
