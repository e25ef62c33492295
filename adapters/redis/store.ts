// StateStore on Redis, for fleets of gateways (Node and Deno) that must share
// limits, budgets, breakers and aggregates. Every operation is one round trip:
// admit and settle are one Lua script each (EVALSHA), the reads are MGET,
// HGETALL and GET. Time is Redis's own clock, read inside the scripts.
//
// Redis being down or slow never hangs a request: no call waits longer than
// `timeoutMs`, commands fail at once while the client is disconnected (no
// offline queue), the client reconnects by itself with backoff, and scripts
// are loaded again when Redis forgot them (NOSCRIPT after a restart).
// Needs Redis 7.0 or newer (SET ... NX GET).
import { createClient, ErrorReply } from 'redis'
import type { Admission, AdmissionResult, Settlement, StateStore } from '../../src/state/store.ts'
import { ADD_FIELDS, ADMIT, OPEN_BREAKERS, SCRIPTS, SETTLE, TRIP_BREAKER, type Script } from './scripts.ts'
import { recordStoreCall } from '../../src/telemetry/metrics.ts'

/** How long a write nothing waits on is held for the next call to carry it. */
const HOLD_MS = 5

export interface RedisStoreOptions {
  /** `redis[s]://[[user][:password]@]host[:port][/db]`; default `$REDIS_URL`, else `redis://127.0.0.1:6379`. */
  url?: string
  /** Prepended to every key; default `'kortex:'`. */
  prefix?: string
  /** No call waits longer than this, ms; default 100. */
  timeoutMs?: number
  /** Called once per transition (and once for the first known state): up after a connection or a reply, down after a failure. */
  onStatus?: (up: boolean, detail: string) => void
}

/** Redis could not answer in time (down, restarting, unreachable, too slow). The message never holds the URL's password. */
export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError'
}

// Replies that mean "this server cannot serve now", not "this command is wrong".
const TRANSIENT = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS)\b/

type Client = ReturnType<typeof createClient>

export class RedisStore implements StateStore {
  readonly #client: Client
  readonly #prefix: string
  readonly #timeoutMs: number
  readonly #onStatus?: (up: boolean, detail: string) => void
  /** The URL without credentials, for messages. */
  readonly #where: string
  readonly #secret: string
  #up: boolean | undefined
  #closed = false

  constructor(opts: RedisStoreOptions = {}) {
    const url = opts.url ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
    this.#prefix = opts.prefix ?? 'kortex:'
    this.#timeoutMs = opts.timeoutMs ?? 100
    this.#onStatus = opts.onStatus
    let parsed: URL | undefined
    try {
      parsed = new URL(url)
    } catch {
      throw new Error('RedisStore: invalid Redis URL')
    }
    this.#secret = decodeURIComponent(parsed.password)
    this.#where = `${parsed.protocol}//${parsed.host}${parsed.pathname.length > 1 ? parsed.pathname : ''}`
    this.#client = createClient({
      url,
      // Fail at once while disconnected instead of queueing requests behind a reconnect.
      disableOfflineQueue: true,
      // Bounds what a hung (connected but silent) Redis can pile up; beyond it calls fail at once.
      commandsQueueMaxLength: 10_000,
      commandOptions: { timeout: this.#timeoutMs },
      socket: {
        connectTimeout: Math.max(1000, this.#timeoutMs * 10),
        // Forever, with capped exponential backoff and jitter: 50 ms, 100 ms, ... 2 s.
        reconnectStrategy: (retries) => Math.min(50 * 2 ** Math.min(retries, 6), 2000) * (0.75 + Math.random() / 2),
      },
    })
    this.#client.on('error', (err: unknown) => this.#status(false, this.#describe(err)))
    this.#client.on('ready', () => {
      this.#status(true, `connected to ${this.#where}`)
      // Load every script once per connection, so the first calls find them (EVALSHA).
      for (const s of SCRIPTS) this.#client.sendCommand(['SCRIPT', 'LOAD', s.source]).catch(() => {})
    })
    this.#client.connect().catch(() => {}) // retries by itself; failures arrive as 'error' events
  }

  // Writes nothing waits on (a request's settlement, spend, experiment
  // figures, breaker trips) are held a few ms and sent with the next call —
  // in the same socket write, so a request's admission carries the writes of
  // the ones before it and each request costs one round trip. Every read
  // sends what is held first, so a caller reads its own writes.
  #held: Array<() => void> = []
  #holdTimer: ReturnType<typeof setTimeout> | undefined

  #later(op: string, fn: () => Promise<unknown>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#held.push(() => void this.#run(op, fn).then(() => resolve(), reject))
      this.#holdTimer ??= setTimeout(() => this.#release(), HOLD_MS)
    })
  }

  #release(): void {
    clearTimeout(this.#holdTimer)
    this.#holdTimer = undefined
    if (!this.#held.length) return
    const held = this.#held
    this.#held = []
    for (const send of held) send()
  }

  async admit(a: Admission): Promise<AdmissionResult> {
    if (a.rates.length === 0 && a.budgets.length === 0) return { allowed: true, rates: [], budgets: [] }
    this.#release()
    const keys = [...a.rates.map((r) => this.#prefix + r.key), ...a.budgets.map((b) => this.#prefix + b.key)]
    const args = [String(a.rates.length), ...a.rates.flatMap((r) => [num(r.limit), num(r.periodMs), num(r.cost)]), ...a.budgets.flatMap((b) => [num(b.amount), num(b.limit), num(b.ttlSeconds)])]
    const out = (await this.#run('admit', () => this.#eval(ADMIT, keys, args))) as string[]
    let i = 1
    return {
      allowed: out[0] === '1',
      rates: a.rates.map((r) => ({ key: r.key, allowed: out[i++] === '1', limit: r.limit, remaining: parse(out[i++]), resetMs: parse(out[i++]), retryAfterMs: parse(out[i++]) })),
      budgets: a.budgets.map((b) => ({ key: b.key, allowed: out[i++] === '1', total: parse(out[i++]), limit: b.limit })),
    }
  }

  async settle(s: Settlement): Promise<void> {
    if (s.rates.length === 0 && s.counters.length === 0) return
    const keys = [...s.rates.map((r) => this.#prefix + r.key), ...s.counters.map((c) => this.#prefix + c.key)]
    const args = [String(s.rates.length), ...s.rates.flatMap((r) => [num(r.limit), num(r.periodMs), num(r.delta)]), ...s.counters.flatMap((c) => [num(c.delta), num(c.ttlSeconds)])]
    await this.#later('settle', () => this.#eval(SETTLE, keys, args))
  }

  async counters(keys: string[]): Promise<number[]> {
    if (keys.length === 0) return []
    this.#release()
    const out = (await this.#run('counters', () => this.#client.sendCommand(['MGET', ...keys.map((k) => this.#prefix + k)]))) as Array<string | null>
    return out.map((v) => (v === null ? 0 : parse(v)))
  }

  async addFields(key: string, deltas: Record<string, number>, ttlSeconds?: number): Promise<void> {
    const args = [ttlSeconds === undefined ? '' : num(ttlSeconds), ...Object.entries(deltas).flatMap(([f, d]) => [f, num(d)])]
    if (args.length === 1 && ttlSeconds === undefined) return
    await this.#later('addFields', () => this.#eval(ADD_FIELDS, [this.#prefix + key], args))
  }

  async readFields(key: string): Promise<Record<string, number>> {
    this.#release()
    const out = await this.#run('readFields', () => this.#client.sendCommand(['HGETALL', this.#prefix + key]))
    // RESP3 answers a map (an object by default); RESP2 a flat array.
    const pairs: Array<[string, unknown]> = Array.isArray(out) ? pairsOf(out) : out instanceof Map ? [...out] : Object.entries(out as object)
    return Object.fromEntries(pairs.map(([f, v]) => [String(f), parse(String(v))]))
  }

  async put(key: string, value: string, opts: { ttlSeconds?: number; ifAbsent?: boolean } = {}): Promise<string> {
    const args = ['SET', this.#prefix + key, value]
    if (opts.ttlSeconds !== undefined) args.push('PX', String(Math.max(1, Math.ceil(opts.ttlSeconds * 1000))))
    // NX GET: set only when absent, and answer the value that was there (null when this one was set).
    if (opts.ifAbsent) args.push('NX', 'GET')
    else {
      await this.#later('put', () => this.#client.sendCommand(args))
      return value
    }
    this.#release()
    const old = (await this.#run('put', () => this.#client.sendCommand(args))) as string | null
    return opts.ifAbsent && old !== null ? String(old) : value
  }

  async tripBreaker(key: string, untilMs: number): Promise<void> {
    await this.#later('tripBreaker', () => this.#eval(TRIP_BREAKER, [`${this.#prefix}breakers`], [key, String(untilMs)]))
  }

  async openBreakers(): Promise<Record<string, number>> {
    this.#release()
    const out = (await this.#run('openBreakers', () => this.#eval(OPEN_BREAKERS, [`${this.#prefix}breakers`], []))) as string[]
    const open: Record<string, number> = {}
    for (let i = 0; i < out.length; i += 2) open[out[i]!] = Number(out[i + 1])
    return open
  }

  async get(key: string): Promise<string | undefined> {
    this.#release()
    const v = (await this.#run('get', () => this.#client.sendCommand(['GET', this.#prefix + key]))) as string | null
    return v === null ? undefined : String(v)
  }

  /** Resolves once connected (at once when already), or rejects after `waitMs`. Calls made before then fail fast. */
  ready(waitMs = 1000): Promise<void> {
    if (this.#client.isReady) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const onReady = () => {
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(() => {
        this.#client.off('ready', onReady)
        reject(new RedisUnavailableError(`Redis is unavailable at ${this.#where}: not connected within ${waitMs} ms`))
      }, waitMs)
      this.#client.once('ready', onReady)
    })
  }

  /** Quits the client (waits at most `timeoutMs` for replies in flight, then drops the connection). */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#release()
    this.#closed = true
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      await Promise.race([this.#client.close(), new Promise((_, reject) => (timer = setTimeout(reject, this.#timeoutMs)))])
    } catch {
      this.#client.destroy()
    } finally {
      clearTimeout(timer)
    }
  }

  /** EVALSHA; on NOSCRIPT (Redis restarted or flushed its scripts) loads the script and calls it again. */
  async #eval(s: Script, keys: string[], args: string[]): Promise<unknown> {
    const call = ['EVALSHA', s.sha, String(keys.length), ...keys, ...args]
    try {
      return await this.#client.sendCommand(call)
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
      await this.#client.sendCommand(['SCRIPT', 'LOAD', s.source])
      return await this.#client.sendCommand(call)
    }
  }

  /** Runs one call within the timeout; failures to reach Redis become RedisUnavailableError. */
  async #run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new RedisUnavailableError(`Redis is unavailable at ${this.#where}: ${op} after close()`)
    let timer: ReturnType<typeof setTimeout> | undefined
    const started = performance.now()
    let failed = true
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RedisUnavailableError(`Redis is unavailable at ${this.#where}: ${op} got no reply within ${this.#timeoutMs} ms`)), this.#timeoutMs)
    })
    try {
      const out = await Promise.race([fn(), late])
      failed = false
      this.#status(true, `${op} answered by ${this.#where}`)
      return out
    } catch (err) {
      if (err instanceof RedisUnavailableError) {
        this.#status(false, err.message)
        throw err
      }
      if (err instanceof ErrorReply && !TRANSIENT.test(err.message)) throw new Error(`Redis ${op} failed: ${this.#redact(err.message)}`)
      const detail = this.#describe(err)
      this.#status(false, detail)
      throw new RedisUnavailableError(`Redis is unavailable at ${this.#where}: ${op} failed: ${detail}`, { cause: err })
    } finally {
      clearTimeout(timer)
      recordStoreCall(op, (performance.now() - started) / 1000, failed)
    }
  }

  #status(up: boolean, detail: string) {
    if (this.#up === up || this.#closed) return
    this.#up = up
    this.#onStatus?.(up, detail)
  }

  #describe(err: unknown): string {
    const e = err as { name?: string; message?: string; code?: string }
    return this.#redact(`${e?.name ?? 'Error'}: ${e?.message || e?.code || String(err)}`)
  }

  #redact(s: string): string {
    return this.#secret ? s.split(this.#secret).join('***') : s
  }
}

/** A number as Lua's tonumber reads it back exactly (JS prints the shortest round-tripping form). */
function num(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`RedisStore: not a finite number: ${n}`)
  return String(n)
}

function parse(s: string | undefined): number {
  if (s === 'inf') return Infinity
  if (s === '-inf') return -Infinity
  return Number(s)
}

function pairsOf(flat: unknown[]): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = []
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([String(flat[i]), flat[i + 1]])
  return out
}
