// Requests refused before any upstream was tried (bad body, unknown or
// missing key, a model the key may not use, a limit or budget) go in the
// access log: a brute-forced key or a rate-limit storm must leave a trace.
// A flood leaves a few lines, not one per request: per status, code and
// principal, the first refusal is written whole, the rest of its window
// are counted and written as one summary line when the window is over.
import type { Logger } from './log.ts'
import { isoTime } from './iso-time.ts'

export interface Refusal {
  requestId: string
  status: number
  code: string
  message: string
  path: string
  principal?: string
}

interface Window {
  /** When its first refusal was written. */
  since: number
  /** Refusals since, not written. */
  count: number
  lastRequestId: string
}

/** Messages quote what the client sent (a model name): kept to a line. */
const MAX_MESSAGE = 300
/** Distinct status/code/principal groups held at once; past it every summary is written and the table starts afresh. */
const MAX_GROUPS = 1000

export class RefusalLog {
  #windows = new Map<string, Window>()
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
    /** How long one group's refusals are counted before their summary line. */
    readonly windowMs = 10_000,
  ) {}

  note(r: Refusal): void {
    const at = this.now()
    const group = `${r.status}\u0000${r.code}\u0000${r.principal ?? ''}`
    const w = this.#windows.get(group)
    if (w && at - w.since < this.windowMs) {
      w.count++
      w.lastRequestId = r.requestId
      this.#arm()
      return
    }
    if (w) this.#summary(group, w, at)
    else if (this.#windows.size >= MAX_GROUPS) this.flush()
    this.#windows.set(group, { since: at, count: 0, lastRequestId: r.requestId })
    const message = r.message.length > MAX_MESSAGE ? `${r.message.slice(0, MAX_MESSAGE)}…` : r.message
    this.#write({ type: 'access', time: isoTime(at), requestId: r.requestId, path: r.path, principal: r.principal, status: r.status, error: r.code, refused: message })
  }

  /** Writes the summary of every window that counted something (at shutdown, and when windows end). */
  flush(): void {
    const at = this.now()
    for (const [group, w] of this.#windows) this.#summary(group, w, at)
    this.#windows.clear()
  }

  #summary(group: string, w: Window, at: number) {
    if (!w.count) return
    const [status, code, principal] = group.split('\u0000')
    this.#write({
      type: 'access',
      time: isoTime(at),
      status: Number(status),
      error: code,
      principal: principal || undefined,
      refusedMore: w.count,
      sinceTime: isoTime(w.since),
      lastRequestId: w.lastRequestId,
    })
    w.count = 0
  }

  /** A logger that throws must not turn a refusal into a broken response, nor stop a shutdown's flush. */
  #write(rec: Record<string, unknown>) {
    try {
      this.log.record(rec)
    } catch {
      /* the log is the runtime's; the answer still goes out */
    }
  }

  /** Ended windows are summarised at the next refusal of their group, or by this timer when none comes. */
  #arm() {
    if (this.#timer !== undefined) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      const at = this.now()
      let counting = false
      for (const [group, w] of this.#windows) {
        if (at - w.since >= this.windowMs) {
          this.#summary(group, w, at)
          this.#windows.delete(group)
        } else if (w.count) counting = true
      }
      if (counting) this.#arm()
    }, this.windowMs)
    // A runtime whose timers keep the process alive (Node) must not wait for this one.
    ;(this.#timer as { unref?: () => void }).unref?.()
  }
}
