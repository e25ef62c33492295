// Who is asking, as the stages and the ingress translators see it: the
// request id, and the scope that owns what the request stores.
import type { ExecutionContext } from '../app.ts'
import type { IngressContext } from '../api/ingress.ts'
import type { Principal } from '../config/compile.ts'
import { ANONYMOUS, presentedKey } from '../auth/authenticate.ts'
import type { StateStore } from '../state/store.ts'
import { sha256Hex } from '../auth/hash.ts'
import type { Services } from './services.ts'

const REQUEST_ID = /^[\w.:-]{1,128}$/

/** The client's request id when it is a sane one, else a new one. */
export function requestIdOf(request: Request): string {
  const given = request.headers.get('x-request-id')
  return given && REQUEST_ID.test(given) ? given : crypto.randomUUID()
}

/** A URL's path, without query or fragment, as Hono reads it (no decoding). */
export function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2)
  if (start === -1) return '/'
  let end = start
  while (end < url.length && url.charCodeAt(end) !== 63 /* ? */ && url.charCodeAt(end) !== 35 /* # */) end++
  return url.slice(start, end)
}

/** What an ingress translator gets beside the request. The scope is worked out only when one asks for it. */
export class RequestContext implements IngressContext {
  readonly store: StateStore
  readonly now: () => number
  readonly waitUntil: (p: Promise<unknown>) => void
  private scoped: Promise<string> | undefined

  constructor(
    s: Services,
    readonly requestId: string,
    private readonly principal: Principal,
    private readonly headers: Headers,
    ctx: Partial<ExecutionContext> | undefined,
  ) {
    this.store = s.store
    this.now = s.now
    this.waitUntil = (p) => s.waitUntil(ctx, p)
  }

  /**
   * The key's name on a keyed request. On an open gateway, a digest of the key presented (any key
   * is let in, so its holder is who the key says), else 'anonymous'.
   */
  scope(): Promise<string> {
    return (this.scoped ??= scopeOf(this.principal, this.headers))
  }
}

function scopeOf(principal: Principal, headers: Headers): Promise<string> {
  // Prefixed, so that a key named 'anonymous' is not the keyless requests' scope.
  if (principal !== ANONYMOUS) return Promise.resolve(`key:${principal.name}`)
  const key = presentedKey(headers)
  // 128 bits of the digest: no one finds another key with the same scope.
  return key ? sha256Hex(key).then((h) => h.slice(0, 32)) : Promise.resolve(ANONYMOUS.name)
}
