// The Node gateway on a pulled config: follows the Kortex controller's
// GET /config with ConfigPuller (ETag, long poll, backoff with jitter; a bad
// document never replaces the running one). The gateway listens before the
// first config arrives (not ready until then); every new version swaps in
// atomically.
import type { CompiledConfig, SecretLookup } from '../../src/config/compile.ts'
import { ConfigPuller } from '../../src/config/pull.ts'
import type { FetchLike } from '../../src/providers/types.ts'

export interface FollowOptions {
  url: string
  token?: string
  /** The controller is usually in-cluster HTTP; Node's own fetch by default. */
  fetch?: FetchLike
  secrets: SecretLookup
  /** Long-poll window (seconds); 0 polls every intervalMs instead. */
  waitSeconds?: number
  intervalMs?: number
  loaded: (config: CompiledConfig, version: string) => void
  failed: (err: unknown, hasConfig: boolean) => void
}

export interface FollowedConfig {
  /** Undefined until the controller first answers. */
  current(): CompiledConfig | undefined
  /** Resolves with the first config the controller serves (retrying, with backoff, until it does). */
  ready: Promise<void>
  version(): string | undefined
  close(): void
}

export function followController(o: FollowOptions): FollowedConfig {
  let first: (() => void) | undefined
  const ready = new Promise<void>((r) => (first = r))
  const puller = new ConfigPuller({
    url: o.url,
    token: o.token,
    fetch: o.fetch ?? ((input, init) => fetch(input, init)),
    secrets: o.secrets,
    waitSeconds: o.waitSeconds ?? 30,
    intervalMs: o.intervalMs ?? 2000,
    maxBackoffMs: 30_000,
    onUpdate: (config, version) => {
      o.loaded(config, version)
      first?.()
    },
    onError: (err) => o.failed(err, !!puller.current()),
  })
  puller.start()
  return { current: () => puller.current(), ready, version: () => puller.version, close: () => puller.stop() }
}
