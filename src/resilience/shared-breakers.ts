// Circuit breakers shared through the StateStore, never on the hot path:
// a trip here is published after the response, and each instance pulls the
// open breakers in the background at most every `refreshMs`, opening its
// own breaker for the same backend until the same time. Decisions stay
// local; a dead backend is known fleet-wide within a couple of seconds.
import type { StateStore } from '../state/store.ts'
import type { Logger } from '../telemetry/log.ts'
import type { BreakerState } from './breaker.ts'
import type { Fleet } from './fleet.ts'

type Board = Required<Pick<StateStore, 'tripBreaker' | 'openBreakers'>>

export class SharedBreakers {
  #pending: Array<{ key: string; until: number }> = []
  #last = -Infinity
  #applying = false

  constructor(
    private readonly board: Board,
    private readonly fleet: Fleet,
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly refreshMs = 2000,
  ) {}

  /** The shared board when the store has one. */
  static of(store: StateStore): Board | undefined {
    return store.tripBreaker && store.openBreakers ? (store as Board) : undefined
  }

  /** The fleet's breaker hook: a local trip is queued for publishing. */
  changed(key: string, to: BreakerState): void {
    if (to !== 'open' || this.#applying) return
    const until = this.fleet.breakers.peek(key)?.snapshot().openUntil
    if (until !== undefined) this.#pending.push({ key, until })
  }

  /** Per request: publish local trips and refresh the shared view, in the background. */
  sync(background: (p: Promise<unknown>) => void, now = this.now()): void {
    if (this.#pending.length) {
      const trips = this.#pending
      this.#pending = []
      background(Promise.all(trips.map((t) => this.board.tripBreaker(t.key, t.until))).catch((err) => this.#warn('publishing a breaker trip failed', err)))
    }
    if (now - this.#last < this.refreshMs) return
    this.#last = now
    background(this.pull().catch((err) => this.#warn('refreshing shared breakers failed', err)))
  }

  async pull(): Promise<void> {
    const open = await this.board.openBreakers()
    this.#applying = true
    try {
      for (const key in open) this.fleet.breakers.peek(key)?.openUntilRemote(open[key]!)
    } finally {
      this.#applying = false
    }
  }

  #warn(what: string, err: unknown) {
    this.log.warn(`kortex: ${what}`, { error: err instanceof Error ? err.message : String(err) })
  }
}
