// Gateway API keys: `Authorization: Bearer <key>` or `x-api-key: <key>`,
// looked up by sha256 so the config may hold hashes only. Keys are never
// logged or echoed; a provider key a client sends is never forwarded (the
// providers build their own headers).
import { GatewayError } from '../api/errors.ts'
import type { CompiledConfig, Principal } from '../config/compile.ts'
import { anyGlob } from '../routing/glob.ts'
import { sha256Hex } from './hash.ts'

export const ANONYMOUS: Principal = { name: 'anonymous', admin: false }

// Hashing costs a few µs; remember answers per config (a swap starts afresh).
const memo = new WeakMap<CompiledConfig, Map<string, Principal | null>>()

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
  let cache = memo.get(config)
  if (!cache) memo.set(config, (cache = new Map()))
  const known = cache.get(key)
  if (known !== undefined) return admit(known, open)
  const c = cache
  return sha256Hex(key).then((hash) => {
    const principal = config.keys.get(hash) ?? null
    if (c.size >= 10_000) c.clear()
    c.set(key, principal)
    return admit(principal, open)
  })
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
