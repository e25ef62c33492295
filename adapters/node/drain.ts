// Shutting down without dropping anything. On SIGTERM (a rollout, a scale
// down) the server stops accepting connections and says it is not ready,
// closes kept-alive connections that sit idle, and lets what is in flight
// finish until a deadline; past it, a stream ends in an error event and a
// request not yet answered gets a 503 its client may retry. Then the work
// each response left behind (cost records, spend) is waited for, the
// gateway writes what it gathered, and the process exits 0.
import type { Server, ServerResponse } from 'node:http'
import { errorJson, refuse } from './refusal.ts'
import { kEndStream, type Streaming } from './response.ts'
import { kRequest, type IncomingRequest } from './request.ts'

export const SHUTTING_DOWN = 'gateway_shutting_down'
/** KORTEX_DRAIN_SECONDS by default: under Kubernetes' 30 s grace period less a 5 s preStop pause. */
export const DEFAULT_DRAIN_SECONDS = 20
// After the deadline: how long ended responses get to reach their clients, and the work after them to finish.
const CUT_MS = 1000
const BACKGROUND_MS = 5000

const CUT_MESSAGE = 'The gateway is shutting down and could not finish this answer in time; retry the request.'
const cutEvent = () => new TextEncoder().encode(`data: ${errorJson(503, CUT_MESSAGE, SHUTTING_DOWN, 'api_error')}\n\n`)

/** The drain deadline in ms: the given seconds, else KORTEX_DRAIN_SECONDS, else the default. */
export function drainMs(given: number | undefined, env: Record<string, string | undefined>): number {
  const raw = given ?? env.KORTEX_DRAIN_SECONDS
  if (raw === undefined || raw === '') return DEFAULT_DRAIN_SECONDS * 1000
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0) throw new Error(`KORTEX_DRAIN_SECONDS must be a number of seconds (0 or more), not ${JSON.stringify(raw)}`)
  return Math.round(n * 1000)
}

type Tracked = ServerResponse & { [kRequest]?: IncomingRequest }
type Linked = Tracked & { [kPrev]?: Linked; [kNext]?: Linked; [kListed]?: ResponseList }
const kPrev = Symbol('kortex.prev')
const kNext = Symbol('kortex.next')
const kListed = Symbol('kortex.listed')

/**
 * The responses not closed yet, linked through the responses themselves. A Set
 * here (an add and a delete per request) kept whole requests alive: V8 rebuilds
 * a Set's table as deletes pile up, and a table that had reached the old
 * generation still points at the responses it held until the next full GC, so
 * scavenges copied and promoted them (~450 KB promoted per scavenge against
 * ~20 KB without, under the plain bench: GC ~2x the CPU). A removed response
 * keeps no link to another.
 */
export class ResponseList implements Iterable<Tracked> {
  #head: Linked | undefined
  size = 0

  add(r: Linked): void {
    if (r[kListed]) return
    r[kListed] = this
    r[kPrev] = undefined
    r[kNext] = this.#head
    if (this.#head) this.#head[kPrev] = r
    this.#head = r
    this.size++
  }

  delete(r: Linked): boolean {
    if (r[kListed] !== this) return false
    const prev = r[kPrev]
    const next = r[kNext]
    if (prev) prev[kNext] = next
    else this.#head = next
    if (next) next[kPrev] = prev
    r[kPrev] = r[kNext] = r[kListed] = undefined
    this.size--
    return true
  }

  has(r: Linked): boolean {
    return r[kListed] === this
  }

  /** Each response once; the one just yielded may be deleted meanwhile (its next is read first). */
  *[Symbol.iterator](): Iterator<Tracked> {
    for (let r = this.#head; r; ) {
      const next: Linked | undefined = r[kNext]
      yield r
      r = next
    }
  }
}

/** What a server has in flight: responses not closed yet, and the work each leaves behind. */
export class InFlight {
  draining = false
  readonly responses = new ResponseList()
  #background = 0
  #changed: (() => void) | undefined
  readonly #settle = () => {
    this.#background--
    this.#changed?.()
  }

  /** Work after a response (it never rejects: the core guards it). */
  background(p: Promise<unknown>): void {
    this.#background++
    p.then(this.#settle, this.#settle)
  }

  closed(out: ServerResponse): void {
    this.responses.delete(out)
    this.#changed?.()
  }

  /** Resolves once `done()` holds (checked whenever a response closes or some work ends), or after `ms`. */
  until(done: () => boolean, ms: number, early?: Promise<void>): Promise<boolean> {
    if (done()) return Promise.resolve(true)
    return new Promise((resolve) => {
      let over = false
      const end = (ok: boolean) => {
        if (over) return
        over = true
        clearTimeout(timer)
        this.#changed = undefined
        resolve(ok)
      }
      const timer = setTimeout(() => end(false), ms)
      this.#changed = () => done() && end(true)
      early?.then(() => end(false))
    })
  }

  get idle(): boolean {
    return this.responses.size === 0
  }
  get settled(): boolean {
    return this.#background === 0
  }
}

export interface Drained {
  /** Responses that finished on their own during the drain. */
  finished: number
  /** Responses ended at the deadline (a stream's error event, a 503). */
  cut: number
}

/** Drains `server`; `now` resolving ends the wait early (a second signal), as the deadline would. */
export async function drainServer(server: Server, f: InFlight, ms: number, now: Promise<void>): Promise<Drained> {
  f.draining = true
  const before = f.responses.size
  // Answers not started yet go out with `Connection: close`.
  for (const out of f.responses) if (!out.headersSent) out.shouldKeepAlive = false
  const closed = new Promise<void>((r) => server.close(() => r())) // no new connections; idle kept-alive ones close
  server.closeIdleConnections()
  // A connection whose last response ends becomes idle: closed as soon as it does.
  const sweep = setInterval(() => server.closeIdleConnections(), 50)
  let cut = 0
  if (!(await f.until(() => f.idle, ms, now))) {
    for (const out of [...f.responses]) {
      cut++
      endNow(out)
    }
    await f.until(() => f.idle, CUT_MS)
  }
  clearInterval(sweep)
  server.closeAllConnections()
  await closed
  await f.until(() => f.settled, BACKGROUND_MS)
  return { finished: before - cut, cut }
}

/** Past the deadline: a 503 if nothing was sent, an error event to end a stream, else the connection is cut. */
function endNow(out: ServerResponse & { [kRequest]?: IncomingRequest }) {
  if (!out.headersSent) {
    refuse(out, 503, CUT_MESSAGE, SHUTTING_DOWN, 'api_error')
    out[kRequest]?.abort() // the upstream call stops
    return
  }
  const end = (out as Streaming)[kEndStream]
  if (end) end(cutEvent())
  else out.destroy()
}

/** SIGTERM or SIGINT: drain, write what is owed, exit 0. A second signal ends the drain at once. */
export function shutdownOnSignals(k: { close(drainMs?: number): Promise<Drained | void>; drainMs: number }, notice: (line: string) => void = (l) => console.error(l)): void {
  let stopping = false
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      notice(`kortex: ${signal} again: ending the requests still in flight now`)
      void k.close(0)
      return
    }
    stopping = true
    notice(`kortex: ${signal}: shutting down; not ready, no new connections; requests in flight have ${k.drainMs / 1000} s to finish (KORTEX_DRAIN_SECONDS)`)
    // Past this, something hangs (a store that never answers): leave anyway.
    setTimeout(() => {
      notice('kortex: shutdown did not finish in time; exiting')
      process.exit(1)
    }, k.drainMs + CUT_MS + 2 * BACKGROUND_MS).unref()
    k.close(k.drainMs).then(
      (d) => {
        if (d) notice(`kortex: stopped: ${d.finished} requests finished${d.cut ? `, ${d.cut} ended at the deadline` : ''}; records written`)
        process.exit(0)
      },
      (err) => {
        notice(`kortex: shutdown failed: ${err instanceof Error ? err.message : String(err)}`)
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}
