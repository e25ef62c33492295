// Gateway API keys: `Authorization: Bearer <key>` or `x-api-key: <key>`,
// looked up by sha256 so the config may hold hashes only. Keys are never
// logged or echoed; a provider key a client sends is never forwarded (the
// providers build their own headers).
import { GatewayError } from '../api/errors.ts'
import type { CompiledConfig, Principal } from '../config/compile.ts'
import { anyGlob } from '../routing/glob.ts'
import { sha256Hex } from './hash.ts'
import { hash53 } from '../experiments/assign.ts'
import { Lru } from '../usage/lru.ts'

export const ANONYMOUS: Principal = { name: 'anonymous', admin: false }

// Hashing costs a few µs and a promise hop, so answers are remembered per
// config (a swap starts afresh), in two places so that a flood of unknown
// keys can neither grow memory nor push out the keys the config knows:
// - keys that matched, by the key itself: no more of them than the config
//   has keys, and a lookup never trusts anything weaker than sha256;
// - keys that did not, by a 53-bit digest in a bounded LRU: a collision
//   there could only refuse a key once more, never admit one, and the digest
//   is seeded at random per config so no one can aim a collision at a key.
// A presented key longer than any real one is refused without hashing.
export const MAX_KEY_LENGTH = 1024
const MAX_MISSES = 4096

interface KeyCache {
  hits: Map<string, Principal>
  misses: Lru<true>
  seed: number
}
const memo = new WeakMap<CompiledConfig, KeyCache>()

export function presentedKey(headers: Headers): string | undefined {
  const auth = headers.get('authorization')
  if (auth) {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim())
    if (m) return m[1]!.trim()
  }
  return headers.get('x-api-key')?.trim() || undefined
}

/** The principal, at once when no key needs hashing (open access, or a key seen before). */
export function authenticate(config: CompiledConfig, headers: Headers): Principal | Promise<Principal> {
  const key = presentedKey(headers)
  const open = config.gateway.auth.open
  if (!key) {
    if (open) return ANONYMOUS
    throw new GatewayError(401, 'Missing API key. Send it as "Authorization: Bearer <key>" or "x-api-key: <key>".', 'authentication_error', 'missing_api_key')
  }
  if (key.length > MAX_KEY_LENGTH) return admit(null, open)
  let cache = memo.get(config)
  if (!cache) memo.set(config, (cache = { hits: new Map(), misses: new Lru(MAX_MISSES), seed: crypto.getRandomValues(new Uint32Array(1))[0]! }))
  const hit = cache.hits.get(key)
  if (hit) return hit
  const digest = String(hash53(key, cache.seed))
  if (cache.misses.get(digest)) return admit(null, open)
  const c = cache
  return sha256Hex(key).then((hash) => {
    const principal = config.keys.get(hash)
    if (!principal) c.misses.set(digest, true)
    else if (c.hits.size < config.keys.size) c.hits.set(key, principal)
    return admit(principal ?? null, open)
  })
}

/** How many answers the key cache holds for this config (hits, misses). */
export function keyCacheSize(config: CompiledConfig): { hits: number; misses: number } {
  const c = memo.get(config)
  return { hits: c?.hits.size ?? 0, misses: c?.misses.size ?? 0 }
}

function admit(principal: Principal | null, open: boolean): Principal {
  if (principal) return principal
  // Open gateways accept any key (SDKs always send one); closed ones refuse it.
  if (open) return ANONYMOUS
  throw new GatewayError(401, 'Incorrect API key provided.', 'authentication_error', 'invalid_api_key')
}

export function checkModelAllowed(principal: Principal, model: string): void {
  if (principal.models?.length && !anyGlob(principal.models, model)) {
    throw new GatewayError(403, `The API key '${principal.name}' is not allowed to use the model '${model}'.`, 'permission_error', 'model_not_allowed', 'model')
  }
}
