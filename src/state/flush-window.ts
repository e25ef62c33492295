// Write-behind for aggregates: the first write of a window opens it, and the
// owner's flush runs when it closes, `ms` later. The promise goes to the
// request's waitUntil, so an edge runtime keeps the isolate for the write.

export class FlushWindow {
  #open: Promise<void> | undefined

  constructor(
    private readonly ms: number,
    private readonly flush: () => Promise<void>,
  ) {}

  /** Opens a window unless one is open; returns its flush when this call opened it. */
  open(): Promise<void> | undefined {
    if (this.#open) return undefined
    return (this.#open = new Promise<void>((resolve) => setTimeout(resolve, this.ms)).then(() => {
      this.#open = undefined
      return this.flush()
    }))
  }
}
