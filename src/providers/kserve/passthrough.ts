// KServe's predictive protocols, passed through: V1 (`/v1/models/{m}:predict`)
// and V2, the Open Inference Protocol (`/v2/models/{m}/infer`, metadata and
// readiness). Only these paths are forwarded, with the gateway's own headers.
import { GatewayError, notFound } from '../../api/errors.ts'
import type { Backend } from '../../config/compile.ts'
import { fromFetchError, toGatewayError } from '../errors.ts'
import type { FetchLike } from '../types.ts'

const ROUTES: Array<{ re: RegExp; methods: string[] }> = [
  { re: /^\/v1\/models\/([^/:]+)$/, methods: ['GET'] },
  { re: /^\/v1\/models\/([^/:]+):(predict|explain)$/, methods: ['POST'] },
  { re: /^\/v2(\/health\/(live|ready))?$/, methods: ['GET'] },
  { re: /^\/v2\/models\/([^/]+)(\/versions\/[^/]+)?(\/ready)?$/, methods: ['GET'] },
  { re: /^\/v2\/models\/([^/]+)(\/versions\/[^/]+)?\/infer$/, methods: ['POST'] },
]

/** The model a pass-through path names, for the key's model allow-list; undefined for server-level paths. */
export function matchKservePath(method: string, path: string): { model?: string } {
  for (const r of ROUTES) {
    const m = r.re.exec(path)
    if (!m) continue
    if (!r.methods.includes(method)) throw new GatewayError(405, `${method} is not allowed on ${path}`, 'invalid_request_error', 'method_not_allowed')
    return { model: path.startsWith('/v2/health') || path === '/v2' ? undefined : decodeURIComponent(m[1]!) }
  }
  throw notFound(`Not a KServe V1/V2 path: ${path}`, 'unknown_url')
}

export interface PassthroughRequest {
  backend: Backend
  path: string
  method: string
  body: ArrayBuffer | null
  contentType?: string
  fetch: FetchLike
  signal: AbortSignal
}

export async function kservePassthrough(req: PassthroughRequest): Promise<Response> {
  const { backend } = req
  const ctl = new AbortController()
  const abort = () => ctl.abort(req.signal.reason)
  req.signal.addEventListener('abort', abort, { once: true })
  const timer = setTimeout(() => ctl.abort(), backend.timeoutMs)
  try {
    const headers: Record<string, string> = { ...backend.headers, accept: 'application/json' }
    if (req.body) headers['content-type'] = req.contentType ?? 'application/json'
    const res = await req.fetch(backend.rootUrl + req.path, { method: req.method, headers, body: req.body, signal: ctl.signal })
    // Fresh headers: nothing of the upstream's but its content type.
    const out: Record<string, string> = { 'x-kortex-backend': backend.name }
    const type = res.headers.get('content-type')
    if (type) out['content-type'] = type
    return new Response(await res.arrayBuffer(), { status: res.status, headers: out })
  } catch (err) {
    throw toGatewayError(fromFetchError(err, ctl.signal), backend.name)
  } finally {
    clearTimeout(timer)
    req.signal.removeEventListener('abort', abort)
  }
}
