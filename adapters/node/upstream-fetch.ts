// The upstream fetch for Node: the Web fetch contract (string URL + init in,
// Response out) served by undici's dispatcher.request, which skips the
// spec machinery of Node's global fetch (~900 µs of CPU per call here,
// against ~300 µs). Bodies stream as they arrive; the signal aborts the
// request and the body; failures reject like fetch: TypeError with a cause.
import { Agent, type Dispatcher } from 'undici'
import type { Readable } from 'node:stream'
import type { FetchLike } from '../../src/providers/types.ts'

const NULL_BODY = new Set([101, 103, 204, 205, 304])

function toWebStream(body: Readable): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(ctrl) {
      body.on('data', (chunk: Buffer) => {
        ctrl.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
        if ((ctrl.desiredSize ?? 1) <= 0) body.pause()
      })
      body.once('end', () => ctrl.close())
      body.once('error', (err) => ctrl.error(new TypeError('terminated', { cause: err })))
    },
    pull() {
      body.resume()
    },
    cancel(reason) {
      body.destroy(reason instanceof Error ? reason : undefined)
    },
  })
}

function toHeaders(raw: Dispatcher.ResponseData['headers']): Headers {
  const h = new Headers()
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue
    if (Array.isArray(v)) for (const x of v) h.append(k, x)
    else h.append(k, v)
  }
  return h
}

export function createUpstreamFetch(agent: Dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 256 })): FetchLike {
  return async (input, init = {}) => {
    if (input instanceof Request) return fetch(input, init) // not used by the core; keep the contract whole
    const url = typeof input === 'string' ? new URL(input) : input
    const signal = init.signal ?? undefined
    if (signal?.aborted) throw signal.reason
    let res: Dispatcher.ResponseData
    try {
      res = await agent.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: (init.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: init.headers instanceof Headers ? Object.fromEntries(init.headers) : (init.headers as Record<string, string> | undefined),
        body: (init.body as string | Uint8Array | null | undefined) ?? null,
        signal,
      })
    } catch (err) {
      if (signal?.aborted) throw signal.reason
      throw new TypeError('fetch failed', { cause: err })
    }
    const body = NULL_BODY.has(res.statusCode) ? (res.body.resume(), null) : toWebStream(res.body)
    return new Response(body, { status: res.statusCode, headers: toHeaders(res.headers) })
  }
}
