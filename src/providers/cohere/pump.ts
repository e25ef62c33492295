// Drives a stream translator over an upstream SSE body: text in, OpenAI
// chunks out, one upstream read at a time so nothing is buffered. Shared by
// the Cohere and Mistral translators (a home under src/providers/ would suit
// it once a third provider needs it).

export interface ChunkTranslator {
  /** The next piece of upstream text; returns the events now complete. */
  push(text: string): Uint8Array[]
  /** The upstream body ended. */
  end(): Uint8Array[]
  /** Reading the upstream body failed. */
  broken(reason: string): Uint8Array[]
  /** Set once [DONE] or an error event went out. */
  readonly finished: boolean
}

/** Pipes `upstream` through `t`; cancelling the result cancels the upstream. */
export function pump(upstream: ReadableStream<Uint8Array>, t: ChunkTranslator): ReadableStream<Uint8Array> {
  const reader = upstream.getReader()
  const decoder = new TextDecoder()
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      // Read until something can be sent: a pull that enqueues nothing is not called again.
      for (;;) {
        let out: Uint8Array[]
        let ended = false
        try {
          const { value, done } = await reader.read()
          if (done) {
            ended = true
            out = [...t.push(decoder.decode()), ...t.end()]
          } else out = t.push(decoder.decode(value, { stream: true }))
        } catch (err) {
          ended = true
          out = t.broken(err instanceof Error ? err.message : String(err))
        }
        for (const b of out) ctrl.enqueue(b)
        if (t.finished || ended) {
          if (!ended) reader.cancel().catch(() => {})
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

/** The stream-error event every translator sends: an OpenAI error object, no [DONE] after it. */
export const errorChunk = (message: string, type: string, code: string) => ({ error: { message, type, param: null, code } })
