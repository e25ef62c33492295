// KServe's predictive protocols, passed through: V1 (`/v1/models/{m}:predict`)
// and V2, the Open Inference Protocol (`/v2/models/{m}/infer`, metadata and
// readiness). Only these paths are forwarded, with the gateway's own headers
// (never the client's credentials); the answer comes back with its status
// and body streamed as they arrive, under fresh headers.
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

/** The binary tensor data extension's header: where the JSON part of a binary body ends. */
const BINARY_HEADER = 'inference-header-content-length'

/** Statuses whose response must not have a body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304])

/**
 * The model a pass-through path names, for the key's model allow-list;
 * undefined for server-level paths. Any other path is a 404, a known path
 * with the wrong method a 405.
 */
export function matchKservePath(method: string, path: string): { model?: string } {
  // A dot segment ("..", "%2e%2e") would be resolved by the URL parser into another path.
  const dots = path.split('/').some((s) => /^(\.|%2e){1,2}$/i.test(s))
  for (const r of dots ? [] : ROUTES) {
    const m = r.re.exec(path)
    if (!m) continue
    if (!r.methods.includes(method)) throw new GatewayError(405, `${method} is not allowed on ${path}`, 'invalid_request_error', 'method_not_allowed')
    return { model: path.startsWith('/v2/health') || path === '/v2' ? undefined : decodeURIComponent(m[1]!) }
  }
  throw notFound(`Not a KServe V1/V2 path: ${path}`, 'unknown_url')
}

export interface PassthroughRequest {
  backend: Backend
  /** The protocol path, e.g. "/v2/models/iris/infer". */
  path: string
  method: string
  body: ArrayBuffer | null
  contentType?: string
  /** The client's Inference-Header-Content-Length (binary tensor data extension), if any. */
  inferenceHeaderContentLength?: string
  fetch: FetchLike
  signal: AbortSignal
}

export async function kservePassthrough(req: PassthroughRequest): Promise<Response> {
  const { backend } = req
  matchKservePath(req.method, req.path)
  const ctl = new AbortController()
  const abort = () => ctl.abort(req.signal.reason)
  if (req.signal.aborted) abort()
  else req.signal.addEventListener('abort', abort, { once: true })
  // The backend's timeout covers the whole exchange, body included.
  const timer = setTimeout(() => ctl.abort(), backend.timeoutMs)
  const done = () => {
    clearTimeout(timer)
    req.signal.removeEventListener('abort', abort)
  }

  const headers: Record<string, string> = { ...backend.headers, accept: 'application/json' }
  const post = req.method === 'POST'
  if (post) headers['content-type'] = req.contentType ?? 'application/json'
  if (post && req.inferenceHeaderContentLength) headers[BINARY_HEADER] = req.inferenceHeaderContentLength
  let res: Response
  try {
    res = await req.fetch(backend.rootUrl + req.path, { method: req.method, headers, body: post ? (req.body ?? new ArrayBuffer(0)) : undefined, signal: ctl.signal })
  } catch (err) {
    done()
    throw toGatewayError(fromFetchError(err, ctl.signal), backend.name)
  }

  // Fresh headers: nothing of the upstream's but its content type (and the binary extension's length).
  const out: Record<string, string> = { 'x-kortex-backend': backend.name }
  const type = res.headers.get('content-type')
  if (type) out['content-type'] = type
  const binary = res.headers.get(BINARY_HEADER)
  if (binary) out[BINARY_HEADER] = binary

  if (NULL_BODY.has(res.status) || !res.body) {
    done()
    await res.body?.cancel().catch(() => {})
    return new Response(null, { status: res.status, headers: out })
  }
  const reader = res.body.getReader()
  const body = new ReadableStream<Uint8Array>({
    async pull(c) {
      try {
        const { done: end, value } = await reader.read()
        if (end) {
          done()
          c.close()
        } else c.enqueue(value)
      } catch (err) {
        done()
        c.error(err)
      }
    },
    cancel(reason) {
      done()
      return reader.cancel(reason)
    },
  })
  return new Response(body, { status: res.status, headers: out })
}

/**
 * Whether a KServe backend is ready, from the free endpoints KServe has
 * (it has no /health): V2 `/v2/health/ready`, V1 `/v1/models/{model}`, the
 * OpenAI runtimes `{base}/models`. Ready means a 2xx whose body, if it
 * carries `ready`, does not say false. Never throws.
 */
export async function kserveReady(backend: Backend, fetch: FetchLike, signal: AbortSignal): Promise<boolean> {
  const protocol = backend.spec.kserve?.protocol ?? 'openai'
  const url =
    protocol === 'v2'
      ? `${backend.rootUrl}/v2/health/ready`
      : protocol === 'v1'
        ? `${backend.rootUrl}/v1/models/${encodeURIComponent(backend.model ?? backend.name)}`
        : `${backend.baseUrl}/models`
  try {
    const res = await fetch(url, { method: 'GET', headers: { ...backend.headers, accept: 'application/json' }, signal })
    const text = await res.text()
    if (!res.ok) return false
    try {
      const j = JSON.parse(text) as unknown
      if (j && typeof j === 'object' && (j as { ready?: unknown }).ready === false) return false
    } catch {
      // An empty or non-JSON 200 (some V2 servers answer health with no body) is still ready.
    }
    return true
  } catch {
    return false
  }
}
