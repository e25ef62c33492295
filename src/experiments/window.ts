// An experiment's window: from its `start` (else the first request it
// served, shared through the store) for its `duration`. Once the window
// has passed the experiment is over: it enrols no one, whether seen before
// or not, so its figures cover exactly the window and its backends stop
// receiving its traffic.
import type { Experiment } from '../config/compile-experiment.ts'

/** Null when the experiment has no duration; false until it has started and run it. */
export function durationReached(exp: Experiment, startMs: number | undefined, now: number): boolean | null {
  if (exp.durationMs === undefined) return null
  return startMs !== undefined && now - startMs >= exp.durationMs
}
