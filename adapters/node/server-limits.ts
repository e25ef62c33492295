// How long the Node server waits for a client, and how many it holds at once.
// Node's own defaults let a request take 300 s to arrive, so a few thousand
// slow uploads hold a few thousand sockets; these cut a slow client with a
// 408 while the others are served.

export interface ServerLimits {
  /** The request line and headers must arrive within this (KORTEX_HEADERS_TIMEOUT_MS). */
  headersTimeoutMs: number
  /** The whole request, body included, must arrive within this (KORTEX_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs: number
  /** The longest pause between two pieces of a request body (KORTEX_BODY_IDLE_TIMEOUT_MS). */
  bodyIdleTimeoutMs: number
  /** An idle keep-alive connection is closed after this (KORTEX_KEEPALIVE_TIMEOUT_MS). */
  keepAliveTimeoutMs: number
  /** Connections past this many are closed at once (KORTEX_MAX_CONNECTIONS). */
  maxConnections: number
}

export const DEFAULT_LIMITS: ServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  bodyIdleTimeoutMs: 15_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 10_000,
}

const ENV: Record<keyof ServerLimits, string> = {
  headersTimeoutMs: 'KORTEX_HEADERS_TIMEOUT_MS',
  requestTimeoutMs: 'KORTEX_REQUEST_TIMEOUT_MS',
  bodyIdleTimeoutMs: 'KORTEX_BODY_IDLE_TIMEOUT_MS',
  keepAliveTimeoutMs: 'KORTEX_KEEPALIVE_TIMEOUT_MS',
  maxConnections: 'KORTEX_MAX_CONNECTIONS',
}

/** The limits: the given ones, else the environment's, else the defaults. Throws on a value that is not a positive integer. */
export function serverLimits(given: Partial<ServerLimits> = {}, env: Record<string, string | undefined> = {}): ServerLimits {
  const out = { ...DEFAULT_LIMITS }
  for (const k of Object.keys(ENV) as Array<keyof ServerLimits>) {
    const raw = given[k] ?? env[ENV[k]]
    if (raw === undefined || raw === '') continue
    const n = Number(raw)
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${ENV[k]} must be a positive whole number, not ${JSON.stringify(raw)}`)
    out[k] = n
  }
  return out
}
