// The in-memory StateStore: exact for one process, and only for it. Limits
// and aggregates kept here are per instance; fleets use Redis or Durable
// Objects.
import type { StateStore } from './store.ts'

interface Entry<T> {
  value: T
  expires: number // ms; Infinity when it never expires
}

export class MemoryStore implements StateStore {
  readonly #hashes = new Map<string, Entry<Map<string, number>>>()
  readonly #values = new Map<string, Entry<string>>()
  readonly #now: () => number
  #writes = 0

  constructor(now: () => number = Date.now) {
    this.#now = now
  }

  #live<T>(map: Map<string, Entry<T>>, key: string): Entry<T> | undefined {
    const e = map.get(key)
    if (e && e.expires <= this.#now()) {
      map.delete(key)
      return undefined
    }
    return e
  }

  // Entries nobody reads again (a request's experiment assignment) must not pile up.
  #sweep() {
    if (++this.#writes % 1000 !== 0) return
    const now = this.#now()
    for (const map of [this.#hashes, this.#values] as Map<string, Entry<unknown>>[]) for (const [k, e] of map) if (e.expires <= now) map.delete(k)
  }

  #expiry(ttlSeconds?: number) {
    return ttlSeconds === undefined ? Infinity : this.#now() + ttlSeconds * 1000
  }

  async addFields(key: string, deltas: Record<string, number>, ttlSeconds?: number): Promise<void> {
    this.#sweep()
    let e = this.#live(this.#hashes, key)
    if (!e) this.#hashes.set(key, (e = { value: new Map(), expires: Infinity }))
    for (const f in deltas) e.value.set(f, (e.value.get(f) ?? 0) + deltas[f]!)
    if (ttlSeconds !== undefined) e.expires = this.#expiry(ttlSeconds)
  }

  async readFields(key: string): Promise<Record<string, number>> {
    return Object.fromEntries(this.#live(this.#hashes, key)?.value ?? [])
  }

  async put(key: string, value: string, opts: { ttlSeconds?: number; ifAbsent?: boolean } = {}): Promise<string> {
    const e = this.#live(this.#values, key)
    if (e && opts.ifAbsent) return e.value
    this.#sweep()
    this.#values.set(key, { value, expires: this.#expiry(opts.ttlSeconds) })
    return value
  }

  async get(key: string): Promise<string | undefined> {
    return this.#live(this.#values, key)?.value
  }
}
