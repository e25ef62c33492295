// Which variant served a request, kept for /v1/feedback, when the gateway
// keeps its state in memory. A store entry per experiment request (a key, a
// value and their wrapper, 200,000 of them) cost the old generation's
// collector ~15% of the gateway's CPU; this ring holds the same in typed
// arrays, with no object per request. The newest `capacity` are kept (each
// for at most the feedback window); a full ring drops the oldest.
import { hash53 } from './assign.ts'

const EMPTY = -1

// ~6 MB at the default capacity, made on the first experiment request.
export class AssignmentRing {
  #ids = new Float64Array(0) // request id hashes (53 bits)
  #refs = new Int32Array(0) // index into #pairs
  #expires = new Float64Array(0)
  #index = new Int32Array(1).fill(EMPTY) // open addressing: ring positions, by id hash
  #mask = 0
  readonly #pairs: Array<[string, string]> = []
  readonly #pairIds = new Map<string, number>()
  #next = 0
  #size = 0

  constructor(private readonly capacity = 200_000) {}

  #allocate(): void {
    this.#ids = new Float64Array(this.capacity)
    this.#refs = new Int32Array(this.capacity)
    this.#expires = new Float64Array(this.capacity)
    let slots = 1
    while (slots < this.capacity * 2) slots *= 2
    this.#index = new Int32Array(slots).fill(EMPTY)
    this.#mask = slots - 1
  }

  /** Remembers that `requestId` was served by `variant` of experiment `expId`, until `expires` (ms). */
  add(requestId: string, expId: string, variant: string, expires: number): void {
    if (this.#ids.length === 0) this.#allocate()
    const pair = `${expId}\n${variant}`
    let ref = this.#pairIds.get(pair)
    if (ref === undefined) {
      ref = this.#pairs.push([expId, variant]) - 1
      this.#pairIds.set(pair, ref)
    }
    const id = hash53(requestId)
    const known = this.#find(id)
    if (known !== undefined) {
      // A request id seen again (a client's own x-request-id): the latest answer counts.
      this.#refs[known] = ref
      this.#expires[known] = expires
      return
    }
    const at = this.#next
    if (this.#size === this.capacity) this.#unindex(at)
    else this.#size++
    this.#ids[at] = id
    this.#refs[at] = ref
    this.#expires[at] = expires
    let s = this.#slot(id)
    while (this.#index[s] !== EMPTY) s = (s + 1) & this.#mask
    this.#index[s] = at
    this.#next = (at + 1) % this.capacity
  }

  /** The experiment and variant that served `requestId`, if it is still kept at `now`. */
  get(requestId: string, now: number): [string, string] | undefined {
    const at = this.#find(hash53(requestId))
    return at !== undefined && this.#expires[at]! > now ? this.#pairs[this.#refs[at]!] : undefined
  }

  #find(id: number): number | undefined {
    for (let s = this.#slot(id); this.#index[s] !== EMPTY; s = (s + 1) & this.#mask) {
      const at = this.#index[s]!
      if (this.#ids[at] === id) return at
    }
    return undefined
  }

  #slot(id: number): number {
    return (id % (this.#mask + 1)) | 0
  }

  // Deletion from linear probing: the entries after the hole that would no longer be found move into it.
  #unindex(at: number): void {
    let s = this.#slot(this.#ids[at]!)
    while (this.#index[s] !== at) s = (s + 1) & this.#mask
    this.#index[s] = EMPTY
    for (let t = (s + 1) & this.#mask; this.#index[t] !== EMPTY; t = (t + 1) & this.#mask) {
      const moved = this.#index[t]!
      const home = this.#slot(this.#ids[moved]!)
      // `moved` stays unless the hole lies between its home slot and where it sits.
      if (s <= t ? home <= s || home > t : home <= s && home > t) {
        this.#index[s] = moved
        this.#index[t] = EMPTY
        s = t
      }
    }
  }
}
