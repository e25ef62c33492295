// Vertex AI's OAuth2 access tokens. A service-account key (the JSON file
// Google issues) signs a JWT with RS256 through WebCrypto, exchanged at the
// key's token_uri (RFC 7523 jwt-bearer grant); without a key, on GKE, the
// metadata server hands out the workload's token. Tokens are cached per
// credential and refreshed before they expire, one refresh at a time.
import { UpstreamError, fromFetchError } from '../errors.ts'
import type { FetchLike } from '../types.ts'

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform'
const METADATA_TOKEN_URL = 'http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token'
const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token'
/** Refresh this long before expiry (at most half the token's life). */
const REFRESH_MARGIN_MS = 5 * 60_000
const TOKEN_TIMEOUT_MS = 10_000

export interface ServiceAccountKey {
  client_email: string
  private_key: string
  token_uri: string
  private_key_id?: string
}

/** The service-account key a secret holds, or why it cannot be one. */
export function parseServiceAccountKey(json: string): ServiceAccountKey | string {
  let k: Record<string, unknown>
  try {
    k = JSON.parse(json)
  } catch {
    return 'is not JSON (expected a service-account key file)'
  }
  if (!k || typeof k !== 'object') return 'is not a JSON object'
  for (const f of ['client_email', 'private_key'] as const) if (typeof k[f] !== 'string' || !k[f]) return `has no "${f}"`
  return {
    client_email: k.client_email as string,
    private_key: k.private_key as string,
    token_uri: typeof k.token_uri === 'string' && k.token_uri ? k.token_uri : GOOGLE_TOKEN_URI,
    private_key_id: typeof k.private_key_id === 'string' ? k.private_key_id : undefined,
  }
}

interface Issued {
  token: string
  expiresAt: number
  refreshAt: number
}

export class TokenSource {
  private current: Issued | undefined
  private pending: Promise<Issued> | undefined
  private pendingSince = 0

  constructor(
    private readonly issue: (fetch: FetchLike) => Promise<{ access_token: string; expires_in: number }>,
    private readonly now: () => number = Date.now,
  ) {}

  /** A valid access token: the cached one while it is fresh, else a new one (a single request however many callers wait). */
  async token(fetch: FetchLike): Promise<string> {
    const t = this.now()
    const cur = this.current
    if (cur && t < cur.refreshAt) return cur.token
    // A refresh left in the background may never settle on Workers (its fetch can be cancelled
    // with the request that started it): past its timeout it is given up and a new one starts.
    if (this.pending && t - this.pendingSince > TOKEN_TIMEOUT_MS) this.pending = undefined
    const refresh = this.pending ?? this.startRefresh(fetch, t)
    // Due for refresh but not expired: keep serving the old token meanwhile.
    if (cur && t < cur.expiresAt) {
      refresh.catch(() => {})
      return cur.token
    }
    return (await refresh).token
  }

  private startRefresh(fetch: FetchLike, t: number): Promise<Issued> {
    const p = this.refresh(fetch)
    this.pending = p
    this.pendingSince = t
    const done = () => {
      if (this.pending === p) this.pending = undefined
    }
    p.then(done, done)
    return p
  }

  private async refresh(fetch: FetchLike): Promise<Issued> {
    const r = await this.issue(fetch)
    const t = this.now()
    const life = Math.max(0, r.expires_in) * 1000
    return (this.current = { token: r.access_token, expiresAt: t + life, refreshAt: t + life - Math.min(REFRESH_MARGIN_MS, life / 2) })
  }
}

const b64url = (bytes: Uint8Array) => {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}
const utf8 = new TextEncoder()

async function importKey(pem: string): Promise<CryptoKey> {
  const b64 = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, '').replace(/\s+/g, '')
  let der: Uint8Array<ArrayBuffer>
  try {
    der = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
    return await crypto.subtle.importKey('pkcs8', der, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign'])
  } catch {
    throw new UpstreamError('unavailable', 'the service-account key\'s private_key is not a PKCS#8 RSA key')
  }
}

/** The signed JWT assertion Google's token endpoint exchanges for an access token. */
export async function signAssertion(key: ServiceAccountKey, scope: string, nowMs: number): Promise<string> {
  const iat = Math.floor(nowMs / 1000)
  const header = { alg: 'RS256', typ: 'JWT', ...(key.private_key_id ? { kid: key.private_key_id } : {}) }
  const claims = { iss: key.client_email, scope, aud: key.token_uri, iat, exp: iat + 3600 }
  const input = `${b64url(utf8.encode(JSON.stringify(header)))}.${b64url(utf8.encode(JSON.stringify(claims)))}`
  const signature = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', await importKey(key.private_key), utf8.encode(input))
  return `${input}.${b64url(new Uint8Array(signature))}`
}

/** Calls a token endpoint; its failures are the backend's credentials failing (auth), or the endpoint's trouble. */
async function requestToken(fetch: FetchLike, url: string, init: RequestInit): Promise<{ access_token: string; expires_in: number }> {
  const signal = AbortSignal.timeout(TOKEN_TIMEOUT_MS)
  let res: Response
  try {
    res = await fetch(url, { ...init, signal })
  } catch (err) {
    throw fromFetchError(err, signal)
  }
  const text = await res.text().catch(() => '')
  let j: Record<string, unknown> = {}
  try {
    j = JSON.parse(text)
  } catch {
    // reported below
  }
  if (!res.ok) {
    const why = typeof j.error_description === 'string' ? j.error_description : typeof j.error === 'string' ? j.error : `HTTP ${res.status}`
    const cls = res.status >= 500 ? 'server' : res.status === 429 ? 'rate_limit' : 'auth'
    throw new UpstreamError(cls, `the token endpoint refused: ${why}`, res.status)
  }
  if (typeof j.access_token !== 'string') throw new UpstreamError('bad_response', 'the token endpoint answered without an access_token', res.status)
  return { access_token: j.access_token, expires_in: typeof j.expires_in === 'number' ? j.expires_in : Number(j.expires_in) || 3600 }
}

export function serviceAccountTokens(key: ServiceAccountKey, scope = CLOUD_PLATFORM_SCOPE, now: () => number = Date.now): TokenSource {
  return new TokenSource(async (fetch) => {
    const assertion = await signAssertion(key, scope, now())
    const body = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion })
    return requestToken(fetch, key.token_uri, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() })
  }, now)
}

/** GKE Workload Identity (or any GCE VM): the metadata server's token for the workload's service account. */
export function metadataServerTokens(url = METADATA_TOKEN_URL, now: () => number = Date.now): TokenSource {
  return new TokenSource((fetch) => requestToken(fetch, url, { method: 'GET', headers: { 'metadata-flavor': 'Google' } }), now)
}

const sources = new Map<string, TokenSource>()

/** One token cache per credential, shared by every backend using it (a config reload keeps it). */
export function tokenSourceFor(secret: string | undefined): TokenSource {
  const id = secret ?? 'metadata-server'
  let s = sources.get(id)
  if (!s) {
    if (secret === undefined) s = metadataServerTokens()
    else {
      const key = parseServiceAccountKey(secret)
      if (typeof key === 'string') throw new UpstreamError('unavailable', `the service-account key ${key}`)
      s = serviceAccountTokens(key)
    }
    sources.set(id, s)
  }
  return s
}
