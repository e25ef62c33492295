// A provider's SSE stream as OpenAI chunks: the upstream's event blocks in,
// OpenAI chunk events out, one upstream read at a time so nothing is
// buffered. Each provider's translator says what one event becomes; ending,
// cutting and failing are the same for all: a stream that stops before its
// last event, or breaks, ends in an error event and never looks complete.
import { SseSplitter, encodeData, parseEventBlock } from '../api/sse.ts'

type Obj = Record<string, any>

export abstract class SseTranslator {
  private splitter = new SseSplitter()
  /** Set once [DONE] or an error event went out. */
  finished = false
  /** The upstream's closing event, named in the error when the stream ends before it. */
  protected abstract readonly lastEvent: string
  /** One upstream event's JSON data (and its `event:` name, if any): push what it becomes to `out`. */
  protected abstract data(data: Obj, out: Uint8Array[], event?: string): void
  /** `data: [DONE]`: most upstreams never send it; those that end on it say so here. */
  protected done(_out: Uint8Array[]): void {}

  /** One event block: its data parsed, or the stream failed when it is not JSON. */
  private event(block: string, out: Uint8Array[]) {
    const ev = parseEventBlock(block)
    if (!ev || !ev.data) return
    if (ev.data === '[DONE]') return this.done(out)
    let data: Obj
    try {
      data = JSON.parse(ev.data)
    } catch {
      return this.fail(out, 'malformed JSON in upstream stream', 'upstream_bad_response')
    }
    this.data(data, out, ev.event)
  }

  /** The next piece of upstream text; returns the events now complete. */
  push(text: string): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const block of this.splitter.push(text)) {
      if (this.finished) break
      this.event(block, out)
    }
    return out
  }

  /** The upstream body ended. */
  end(): Uint8Array[] {
    const out: Uint8Array[] = []
    const tail = this.splitter.flush()
    if (tail && !this.finished) this.event(tail, out)
    if (!this.finished) this.fail(out, `upstream stream ended early, before ${this.lastEvent}`, 'upstream_stream_truncated')
    return out
  }

  /** Reading the upstream body failed. */
  broken(reason: string): Uint8Array[] {
    const out: Uint8Array[] = []
    if (!this.finished) this.fail(out, `upstream stream failed: ${reason}`, 'upstream_stream_interrupted')
    return out
  }

  /** Ends the client's stream with an error event (no [DONE] after it). */
  protected fail(out: Uint8Array[], message: string, code: string, type = 'upstream_error') {
    this.finished = true
    out.push(encodeData(errorChunk(message, type, code)))
  }
}

/** Upstream chunks (text, or decoded frames) in, OpenAI chunk events out. */
export interface ChunkTranslator<T> {
  push(chunk: T): Uint8Array[]
  /** The upstream body ended. */
  end(): Uint8Array[]
  /** Reading the upstream body failed. */
  broken(reason: string): Uint8Array[]
  /** Set once [DONE] or an error event went out. */
  readonly finished: boolean
}

/** Pipes an SSE body through `t`, decoded to text; cancelling the result cancels the upstream. */
export function pump(upstream: ReadableStream<Uint8Array>, t: SseTranslator): ReadableStream<Uint8Array> {
  const decoder = new TextDecoder()
  return pumpChunks(upstream, {
    push: (bytes) => t.push(decoder.decode(bytes, { stream: true })),
    end: () => [...t.push(decoder.decode()), ...t.end()],
    broken: (reason) => t.broken(reason),
    get finished() {
      return t.finished
    },
  })
}

/**
 * Pipes `upstream`'s chunks through `t`, one read at a time; cancelling the result cancels the upstream.
 * Once `t` has finished, the rest of the upstream is cancelled, or with `drain` read to its end
 * unseen (the gateway's own stream: cancelling it would count as the client leaving).
 */
export function pumpChunks<T>(upstream: ReadableStream<T>, t: ChunkTranslator<T>, drain = false): ReadableStream<Uint8Array> {
  const reader = upstream.getReader()
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      // Read until something can be sent: a pull that enqueues nothing is not called again.
      for (;;) {
        let out: Uint8Array[]
        let ended = false
        try {
          const { value, done } = await reader.read()
          ended = done
          out = done ? t.end() : t.push(value)
        } catch (err) {
          ended = true
          out = t.broken(err instanceof Error ? err.message : String(err))
        }
        for (const b of out) ctrl.enqueue(b)
        if (t.finished || ended) {
          if (!ended) (drain ? drainAll(reader) : reader.cancel()).catch(() => {})
          ctrl.close()
          return
        }
        if (out.length) return
      }
    },
    cancel(reason) {
      return reader.cancel(reason).catch(() => {})
    },
  })
}

/** Reads a stream to its end, unseen. */
export async function drainAll(reader: ReadableStreamDefaultReader<unknown>): Promise<void> {
  while (!(await reader.read()).done);
}

/** The stream-error event every translator sends: an OpenAI error object, no [DONE] after it. */
export const errorChunk = (message: string, type: string, code: string) => ({ error: { message, type, param: null, code } })
