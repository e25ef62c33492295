// Abort signals for the Node hot path. Node's AbortSignal costs ~6 µs to
// make and ~2.5 µs per listener added or removed (it is a full EventTarget);
// a proxied request needs two (the client's, and its attempt's) and four
// listener calls. These keep their listeners in an array. They serve every
// reader the gateway has: the core (aborted, reason, add/removeEventListener)
// and undici's request (the same). A spec Request or fetch wanting a real
// AbortSignal gets one linked by `real()`.

type Listener = ((this: AbortSignal, ev: Event) => unknown) | { handleEvent(ev: Event): unknown }

export class LiteAbortSignal {
  aborted = false
  reason: unknown = undefined
  onabort: ((this: AbortSignal, ev: Event) => unknown) | null = null
  #listeners: Array<{ l: Listener; once: boolean }> | undefined
  #real: AbortController | undefined

  addEventListener(type: string, l: Listener | null, opts?: boolean | AddEventListenerOptions): void {
    if (type !== 'abort' || !l) return
    const o = typeof opts === 'object' ? opts : undefined
    if (o?.signal?.aborted) return
    const ls = (this.#listeners ??= [])
    for (let i = 0; i < ls.length; i++) if (ls[i]!.l === l) return
    ls.push({ l, once: o?.once === true })
    o?.signal?.addEventListener('abort', () => this.removeEventListener('abort', l), { once: true })
  }

  // Loops, not some()/findIndex(): each listener call would make a closure, and a
  // proxied request adds and removes two listeners.
  removeEventListener(type: string, l: Listener | null): void {
    const ls = this.#listeners
    if (type !== 'abort' || !ls) return
    for (let i = 0; i < ls.length; i++) {
      if (ls[i]!.l === l) {
        ls.splice(i, 1)
        return
      }
    }
  }

  dispatchEvent(ev: Event): boolean {
    if (ev.type !== 'abort') return true
    const self = this as unknown as AbortSignal
    this.onabort?.call(self, ev)
    for (const x of [...(this.#listeners ?? [])]) {
      if (x.once) this.removeEventListener('abort', x.l)
      try {
        if (typeof x.l === 'function') x.l.call(self, ev)
        else x.l.handleEvent(ev)
      } catch (err) {
        // As EventTarget does: a throwing listener is reported, the others still run.
        queueMicrotask(() => {
          throw err
        })
      }
    }
    return true
  }

  throwIfAborted(): void {
    if (this.aborted) throw this.reason
  }

  /** A real AbortSignal that follows this one. */
  real(): AbortSignal {
    if (!this.#real) {
      this.#real = new AbortController()
      if (this.aborted) this.#real.abort(this.reason)
    }
    return this.#real.signal
  }

  /** @internal */
  _abort(reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason
    this.#real?.abort(this.reason)
    this.dispatchEvent(new Event('abort'))
  }
}

// `instanceof AbortSignal` holds; its own members shadow the spec ones.
Object.setPrototypeOf(LiteAbortSignal.prototype, AbortSignal.prototype)

export class LiteAbortController {
  readonly signal = new LiteAbortSignal()

  abort(reason?: unknown): void {
    this.signal._abort(reason)
  }
}

/** The Node gateway's attempt controllers. */
export const liteAborter = (): { signal: AbortSignal; abort(reason?: unknown): void } => new LiteAbortController() as unknown as AbortController
