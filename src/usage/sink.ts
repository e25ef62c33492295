// The optional HTTP sink for cost records: batched POSTs of
// {"records":[...]}, retried with backoff, from a bounded queue. It never
// blocks a request: a full queue drops its oldest records (counted, logged
// once per burst) rather than grow without end.
import type { FetchLike } from '../providers/types.ts'
import type { Logger } from '../telemetry/log.ts'
import type { CostRecord } from './record.ts'

export interface SinkOptions {
  url: string
  token?: string
  batchSize: number
  flushMs: number
  maxQueue: number
  fetch: FetchLike
  log: Logger
}

export class HttpSink {
  readonly #queue: CostRecord[] = []
  #sending: Promise<void> | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #failures = 0
  dropped = 0
  sent = 0

  constructor(private readonly o: SinkOptions) {}

  /** Queues a record; resolves once a full batch it completed has been sent (or given up on for now). */
  push(r: CostRecord): Promise<void> {
    this.#queue.push(r)
    if (this.#queue.length > this.o.maxQueue) {
      const over = this.#queue.length - this.o.maxQueue
      this.#queue.splice(0, over)
      if (this.dropped === 0 || this.#failures === 1) this.o.log.warn('kortex: cost sink queue full; dropping the oldest records', { url: redact(this.o.url), maxQueue: this.o.maxQueue })
      this.dropped += over
    }
    if (this.#queue.length >= this.o.batchSize) return this.flush()
    this.#timer ??= setTimeout(() => void this.flush(), this.o.flushMs)
    // A send under way is part of this request's background work too: on
    // Workers, work no live request waits for may be cut off.
    return this.#sending ?? Promise.resolve()
  }

  /** Sends what is queued, a batch at a time; one flush at a time. */
  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#sending ??= this.#drain().finally(() => (this.#sending = undefined))
    return this.#sending
  }

  async #drain(): Promise<void> {
    while (this.#queue.length) {
      const batch = this.#queue.slice(0, this.o.batchSize)
      try {
        const res = await this.o.fetch(this.o.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(this.o.token ? { authorization: `Bearer ${this.o.token}` } : {}) },
          body: JSON.stringify({ records: batch }),
          signal: AbortSignal.timeout(10_000),
        })
        await res.body?.cancel()
        if (!res.ok) throw new Error(`HTTP ${res.status}`)
      } catch (err) {
        // Keep the batch; try again later, backing off to a minute.
        this.#failures++
        if (this.#failures === 1) this.o.log.warn('kortex: cost sink failed; records stay queued and are retried', { url: redact(this.o.url), error: err instanceof Error ? err.message : String(err) })
        const wait = Math.min(60_000, 1000 * 2 ** Math.min(this.#failures - 1, 6))
        this.#timer ??= setTimeout(() => void this.flush(), wait)
        return
      }
      this.#queue.splice(0, batch.length)
      this.sent += batch.length
      if (this.#failures) this.o.log.warn('kortex: cost sink recovered', { url: redact(this.o.url) })
      this.#failures = 0
    }
  }

  get queued(): number {
    return this.#queue.length
  }
}

/** A sink URL may carry credentials or tokens: logs get its origin and path only. */
const redact = (url: string) => {
  const u = new URL(url)
  return `${u.origin}${u.pathname}`
}
