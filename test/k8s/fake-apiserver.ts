// A Kubernetes API server for tests, faithful where the controller depends on
// it: list with metadata.resourceVersion (and fieldSelector metadata.name /
// labelSelector-free), `?watch=true&resourceVersion=N` as chunked
// newline-delimited JSON events (ADDED, MODIFIED, DELETED, BOOKMARK when
// asked, ERROR 410 Gone for a compacted resourceVersion), one resourceVersion
// counter growing on every change, metadata.generation bumped on spec changes
// only, create/get/replace with optimistic concurrency (409), delete, and
// PATCH on /status with merge-patch only (JSON Patch is refused with 415, as a
// CRD status endpoint refuses strategic merge), 403 where RBAC is made to
// refuse. Tests drive it directly (apply, remove, dropWatches, compact,
// forbidden) and count requests.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'

type Obj = { apiVersion?: string; kind?: string; metadata: Record<string, any>; spec?: any; status?: any; [k: string]: unknown }

interface Event {
  rv: number
  type: 'ADDED' | 'MODIFIED' | 'DELETED'
  collection: string
  object: Obj
}

interface Watcher {
  collection: string
  namespace?: string
  name?: string
  res: ServerResponse
}

/** `/apis/g/v` or `/api/v1` → plural → kind. */
const KINDS: Record<string, string> = {
  inferencebackends: 'InferenceBackend',
  inferenceroutes: 'InferenceRoute',
  inferenceexperiments: 'InferenceExperiment',
  gatewayconfigs: 'GatewayConfig',
  inferenceservices: 'InferenceService',
  secrets: 'Secret',
  leases: 'Lease',
}

export const PATHS = {
  backends: '/apis/gateway.kortex.io/v1alpha1/inferencebackends',
  routes: '/apis/gateway.kortex.io/v1alpha1/inferenceroutes',
  experiments: '/apis/gateway.kortex.io/v1alpha1/inferenceexperiments',
  gatewayconfigs: '/apis/gateway.kortex.io/v1alpha1/gatewayconfigs',
  inferenceservices: '/apis/serving.kserve.io/v1beta1/inferenceservices',
  secrets: '/api/v1/secrets',
  leases: '/apis/coordination.k8s.io/v1/leases',
}

const PLURAL_OF: Record<string, string> = Object.fromEntries(Object.entries(KINDS).map(([p, k]) => [k, p]))

/** The collection (`/apis/g/v/plural`) an object belongs to. */
function collectionOf(o: Obj): string {
  const plural = PLURAL_OF[o.kind!]
  if (!plural) throw new Error(`fake API server: unknown kind ${o.kind}`)
  return o.apiVersion === 'v1' ? `/api/v1/${plural}` : `/apis/${o.apiVersion}/${plural}`
}

export class FakeApiServer {
  #server: Server | undefined
  #rv = 100
  #objects = new Map<string, Obj>() // `${collection}|${ns}|${name}`
  #events: Event[] = []
  /** Events at or below this resourceVersion are gone: watching from older gets 410. */
  #compactedRv = 0
  #watchers = new Set<Watcher>()
  url = ''
  requests: Array<{ method: string; path: string; contentType?: string }> = []
  /** Answer the next N watch requests with HTTP 500 (an informer error other than 410). */
  failWatches = 0
  /** `plural/namespace` pairs RBAC does not let the client read: every request there gets 403. */
  forbidden = new Set<string>()

  get resourceVersion(): number {
    return this.#rv
  }

  async start(): Promise<string> {
    this.#server = createServer((req, res) => void this.#handle(req, res).catch((err) => this.#status(res, 500, String(err))))
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', () => r()))
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
    return this.url
  }

  async stop(): Promise<void> {
    for (const w of this.#watchers) w.res.destroy()
    this.#server?.closeAllConnections()
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()))
  }

  // --- test controls ----------------------------------------------------

  /** Create or update (like kubectl apply of the whole object). Returns the stored object. */
  apply(input: Obj): Obj {
    const o = structuredClone(input)
    const ns = o.metadata.namespace ?? (o.kind === 'Namespace' ? undefined : 'default')
    if (ns) o.metadata.namespace = ns
    const col = collectionOf(o)
    const key = `${col}|${ns ?? ''}|${o.metadata.name}`
    const old = this.#objects.get(key)
    o.metadata.uid = old?.metadata.uid ?? randomUUID()
    o.metadata.creationTimestamp = old?.metadata.creationTimestamp ?? new Date().toISOString()
    const specChanged = !old || JSON.stringify(old.spec) !== JSON.stringify(o.spec)
    o.metadata.generation = old ? (old.metadata.generation ?? 1) + (specChanged ? 1 : 0) : 1
    if (old && !('status' in input)) o.status = old.status
    return this.#store(key, col, o, old ? 'MODIFIED' : 'ADDED')
  }

  remove(kindPath: string, namespace: string, name: string): void {
    const key = `${kindPath}|${namespace}|${name}`
    const old = this.#objects.get(key)
    if (!old) return
    this.#objects.delete(key)
    const gone = structuredClone(old)
    gone.metadata.resourceVersion = String(++this.#rv)
    this.#emit({ rv: this.#rv, type: 'DELETED', collection: kindPath, object: gone })
  }

  get(kindPath: string, namespace: string, name: string): Obj | undefined {
    return this.#objects.get(`${kindPath}|${namespace}|${name}`)
  }

  /** Cut every open watch connection (the client sees the stream end). */
  dropWatches(): void {
    for (const w of this.#watchers) w.res.destroy()
    this.#watchers.clear()
  }

  /** Forget the event history up to now: resuming a watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.#compactedRv = this.#rv
    this.#events = []
  }

  /** A BOOKMARK to every watch that asked for them. */
  bookmark(): void {
    for (const w of this.#watchers) {
      if ((w as Watcher & { bookmarks?: boolean }).bookmarks) this.#send(w.res, { type: 'BOOKMARK', object: { kind: KINDS[w.collection.split('/').pop()!], apiVersion: '', metadata: { resourceVersion: String(this.#rv) } } })
    }
  }

  get openWatches(): number {
    return this.#watchers.size
  }

  // --- internals --------------------------------------------------------

  #store(key: string, col: string, o: Obj, type: Event['type']): Obj {
    o.metadata.resourceVersion = String(++this.#rv)
    this.#objects.set(key, o)
    this.#emit({ rv: this.#rv, type, collection: col, object: structuredClone(o) })
    return o
  }

  #emit(e: Event): void {
    this.#events.push(e)
    for (const w of this.#watchers) if (this.#matches(w, e)) this.#send(w.res, { type: e.type, object: e.object })
  }

  #matches(w: Pick<Watcher, 'collection' | 'namespace' | 'name'>, e: Event): boolean {
    return e.collection === w.collection && (!w.namespace || e.object.metadata.namespace === w.namespace) && (!w.name || e.object.metadata.name === w.name)
  }

  #send(res: ServerResponse, event: unknown): void {
    if (!res.destroyed) res.write(JSON.stringify(event) + '\n')
  }

  #status(res: ServerResponse, code: number, message: string, reason = 'Failure'): void {
    if (res.headersSent) return void res.destroy()
    res.writeHead(code, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }))
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    this.requests.push({ method: req.method!, path: url.pathname + url.search, contentType: req.headers['content-type'] })
    // /api/v1[/namespaces/ns]/plural[/name[/status]]  or  /apis/g/v[/namespaces/ns]/plural[/name[/status]]
    const m = /^(\/api\/v1|\/apis\/[^/]+\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(\/status)?$/.exec(url.pathname)
    if (!m || !KINDS[m[3]!]) return this.#status(res, 404, `the server could not find the requested resource ${url.pathname}`, 'NotFound')
    const [, prefix, namespace, plural, name, status] = m
    const col = `${prefix}/${plural}`
    if (this.forbidden.has(`${plural}/${namespace}`)) {
      return this.#status(res, 403, `${plural} is forbidden: User "system:serviceaccount:kortex:kortex-controller" cannot ${req.method === 'GET' ? 'list' : 'update'} resource "${plural}" in API group "" in the namespace "${namespace}"`, 'Forbidden')
    }
    const body = req.method === 'GET' || req.method === 'DELETE' ? undefined : await readBody(req)

    if (!name) {
      if (req.method === 'POST') {
        const o = JSON.parse(body!) as Obj
        o.metadata.namespace = namespace ?? o.metadata.namespace
        if (this.get(col, o.metadata.namespace ?? '', o.metadata.name)) return this.#status(res, 409, `${plural} "${o.metadata.name}" already exists`, 'AlreadyExists')
        o.apiVersion ??= prefix === '/api/v1' ? 'v1' : prefix!.slice('/apis/'.length)
        o.kind ??= KINDS[plural!]
        return json(res, 201, this.apply(o))
      }
      const field = url.searchParams.get('fieldSelector')
      const only = field ? /^metadata\.name=(.+)$/.exec(field)?.[1] : undefined
      if (field && !only) return this.#status(res, 400, `unsupported field selector ${field}`, 'BadRequest')
      if (url.searchParams.get('watch') === 'true') return this.#watch(req, res, { collection: col, namespace, name: only, res }, url)
      const items = [...this.#objects.values()].filter((o) => this.#matches({ collection: col, namespace, name: only }, { object: o, collection: collectionOf(o) } as Event))
      return json(res, 200, { apiVersion: prefix === '/api/v1' ? 'v1' : prefix!.slice('/apis/'.length), kind: `${KINDS[plural!]}List`, metadata: { resourceVersion: String(this.#rv) }, items })
    }

    const key = `${col}|${namespace ?? ''}|${name}`
    const old = this.#objects.get(key)
    if (req.method === 'GET') return old ? json(res, 200, old) : this.#status(res, 404, `${plural} "${name}" not found`, 'NotFound')
    if (req.method === 'DELETE') {
      if (!old) return this.#status(res, 404, `${plural} "${name}" not found`, 'NotFound')
      this.remove(col, namespace ?? '', name)
      return json(res, 200, old)
    }
    if (!old) return this.#status(res, 404, `${plural} "${name}" not found`, 'NotFound')
    if (req.method === 'PUT') {
      const o = JSON.parse(body!) as Obj
      if (o.metadata.resourceVersion && o.metadata.resourceVersion !== old.metadata.resourceVersion) {
        return this.#status(res, 409, `Operation cannot be fulfilled on ${plural} "${name}": the object has been modified`, 'Conflict')
      }
      const next = status ? { ...structuredClone(old), status: o.status } : { ...o, status: old.status, metadata: { ...o.metadata, uid: old.metadata.uid, creationTimestamp: old.metadata.creationTimestamp, generation: old.metadata.generation } }
      if (!status && JSON.stringify(old.spec) !== JSON.stringify(o.spec)) next.metadata.generation = (old.metadata.generation ?? 1) + 1
      return json(res, 200, this.#store(key, col, next, 'MODIFIED'))
    }
    if (req.method === 'PATCH') {
      const type = (req.headers['content-type'] ?? '').split(';')[0]
      if (type !== 'application/merge-patch+json') return this.#status(res, 415, `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json (got ${type})`, 'UnsupportedMediaType')
      const patch = JSON.parse(body!) as Obj
      const next = structuredClone(old)
      if (status) next.status = mergePatch(old.status ?? {}, patch.status ?? {})
      else {
        Object.assign(next, mergePatch(old, { ...patch, status: undefined }))
        next.status = old.status
        if (JSON.stringify(old.spec) !== JSON.stringify(next.spec)) next.metadata.generation = (old.metadata.generation ?? 1) + 1
      }
      return json(res, 200, this.#store(key, col, next, 'MODIFIED'))
    }
    return this.#status(res, 405, 'method not allowed', 'MethodNotAllowed')
  }

  #watch(req: IncomingMessage, res: ServerResponse, w: Watcher, url: URL): void {
    if (this.failWatches > 0) {
      this.failWatches--
      return this.#status(res, 500, 'injected watch failure', 'InternalError')
    }
    const from = Number(url.searchParams.get('resourceVersion') || this.#rv)
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })
    res.flushHeaders()
    if (from < this.#compactedRv) {
      this.#send(res, { type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${this.#compactedRv})`, reason: 'Expired', code: 410 } })
      return void res.end()
    }
    ;(w as Watcher & { bookmarks?: boolean }).bookmarks = url.searchParams.get('allowWatchBookmarks') === 'true'
    for (const e of this.#events) if (e.rv > from && this.#matches(w, e)) this.#send(res, { type: e.type, object: e.object })
    this.#watchers.add(w)
    // A watch the client abandons: notice it on the response (req 'close' fires when the request body ends).
    res.on('close', () => this.#watchers.delete(w))
    const timeout = Number(url.searchParams.get('timeoutSeconds'))
    if (timeout > 0) setTimeout(() => res.end(), timeout * 1000).unref()
    void req
  }
}

function json(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: any, patch: any): any {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch
  const out = target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]
    else if (v !== undefined) out[k] = mergePatch(out[k], v)
  }
  return out
}
