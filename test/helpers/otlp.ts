// A stand-in OpenTelemetry collector: an HTTP server taking OTLP/HTTP posts
// (/v1/traces, /v1/metrics), JSON decoded into flat spans; protobuf kept raw.
import { readFileSync } from 'node:fs'
import { startServer, type TestServer } from './server.ts'

export interface Post {
  path: string
  contentType: string
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

export interface FlatSpan {
  name: string
  kind: number
  traceId: string
  spanId: string
  parentSpanId: string
  status?: { code?: number; message?: string }
  attributes: Record<string, unknown>
  resource: Record<string, unknown>
}

export const SERVER = 2
export const CLIENT = 3

export interface OtlpReceiver extends TestServer {
  posts: Post[]
  /** Every span received as OTLP/JSON, flattened. */
  spans(): FlatSpan[]
  /** Metric names received as OTLP/JSON. */
  metricNames(): string[]
  /** Resolves when `test` holds (the exporters send in batches, on their own schedule). */
  until(test: () => boolean, what: string, ms?: number): Promise<void>
}

type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean }
type KeyValue = { key: string; value: AnyValue }
const valueOf = (v: AnyValue) => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.doubleValue ?? v.boolValue))
const attrs = (kvs: KeyValue[] | undefined) => Object.fromEntries((kvs ?? []).map((kv) => [kv.key, valueOf(kv.value)]))

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const posts: Post[] = []
  const srv = await startServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    posts.push({ path: req.url ?? '', contentType: String(req.headers['content-type'] ?? ''), headers: req.headers, body: Buffer.concat(chunks) })
    res.writeHead(200, { 'content-type': String(req.headers['content-type'] ?? 'application/json') }).end(req.headers['content-type']?.includes('json') ? '{}' : '')
  })
  const json = (path: string) => posts.filter((p) => p.path === path && p.contentType.includes('json')).map((p) => JSON.parse(p.body.toString()))
  const spans = (): FlatSpan[] =>
    json('/v1/traces').flatMap((b) =>
      (b.resourceSpans ?? []).flatMap((rs: any) =>
        (rs.scopeSpans ?? []).flatMap((ss: any) =>
          (ss.spans ?? []).map((s: any) => ({ ...s, parentSpanId: s.parentSpanId ?? '', attributes: attrs(s.attributes), resource: attrs(rs.resource?.attributes) })),
        ),
      ),
    )
  const metricNames = () => json('/v1/metrics').flatMap((b) => (b.resourceMetrics ?? []).flatMap((rm: any) => (rm.scopeMetrics ?? []).flatMap((sm: any) => (sm.metrics ?? []).map((m: any) => m.name as string))))
  const until = async (test: () => boolean, what: string, ms = 15_000) => {
    const end = Date.now() + ms
    while (!test()) {
      if (Date.now() > end) throw new Error(`the receiver never got ${what}; posts: ${posts.map((p) => `${p.path} ${p.contentType}`).join(', ') || 'none'}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  return Object.assign(srv, { posts, spans, metricNames, until })
}

/** Module URLs a process loaded, as test/helpers/log-loads.mjs wrote them. */
export const loadedModules = (file: string): string[] => {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean)
  } catch {
    return []
  }
}
