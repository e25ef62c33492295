// A bounded map that drops its least recently used entries: the token count
// caches. Map order is the recency order (a hit is moved to the end), and the
// oldest are found through one iterator kept between evictions: a fresh
// iterator steps over every entry deleted before it, which V8 keeps in the
// table until it rehashes (~10 µs an insert at 1,000 entries).
export class Lru<V> {
  readonly #map = new Map<string, V>()
  #oldest: Iterator<string> | undefined
  #weight = 0

  /** At most `maxEntries`, and `maxWeight` by the weights given to set (key length by default). */
  constructor(
    private readonly maxEntries: number,
    private readonly maxWeight = Infinity,
    private readonly weigh: (key: string) => number = (k) => k.length,
  ) {}

  get size(): number {
    return this.#map.size
  }

  get(key: string): V | undefined {
    const v = this.#map.get(key)
    if (v !== undefined) {
      this.#map.delete(key)
      this.#map.set(key, v)
    }
    return v
  }

  set(key: string, value: V): void {
    if (this.#map.has(key)) this.#delete(key)
    this.#map.set(key, value)
    this.#weight += this.weigh(key)
    while (this.#map.size > this.maxEntries || this.#weight > this.maxWeight) {
      const r = (this.#oldest ??= this.#map.keys()).next()
      if (r.done) this.#oldest = undefined
      else this.#delete(r.value)
    }
  }

  #delete(key: string): void {
    this.#map.delete(key)
    this.#weight -= this.weigh(key)
  }
}
