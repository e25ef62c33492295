// A Responses API server for tests: the ingress translator in front of a
// scripted chat backend (what the gateway's providers hand back), and the
// stored-response routes, so the real openai SDK can be pointed at it.
import type { ServerResponse } from 'node:http'
import OpenAI from 'openai'
import { GatewayError } from '../../../src/api/errors.ts'
import type { IngressContext } from '../../../src/api/ingress.ts'
import { responsesIngress, responsesRoute } from '../../../src/api/responses/index.ts'
import { MemoryStore } from '../../../src/state/memory.ts'
import { readText, startServer, type TestServer } from '../../helpers/server.ts'
import { webStream, type StreamBody } from '../../../src/providers/types.ts'

type Obj = Record<string, any>

/** What the scripted backend answers: a chat.completion, or chat SSE events (objects, or raw data strings). */
export type Answer = { json: Obj } | { events: Array<Obj | string> }

export const MODEL = 'gpt-test-2026-01-01'

export const chunk = (delta: Obj, finish: string | null = null): Obj => ({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: MODEL, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })
export const usageChunk = (prompt = 11, completion = 7, cached = 3): Obj => ({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: MODEL, choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached }, completion_tokens_details: { reasoning_tokens: 0 } } })
export const completion = (message: Obj, finish = 'stop', usage: Obj = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 }): Obj => ({ id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: MODEL, choices: [{ index: 0, message: { role: 'assistant', ...message }, logprobs: null, finish_reason: finish }], usage })

/** SSE bytes of the events, cut into small pieces so blocks straddle reads. */
export function sseStream(events: Array<Obj | string>, piece = 7): ReadableStream<Uint8Array> {
  const text = events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`).join('')
  const bytes = new TextEncoder().encode(text)
  let at = 0
  return new ReadableStream({
    pull(ctrl) {
      if (at >= bytes.length) return ctrl.close()
      ctrl.enqueue(bytes.slice(at, (at += piece)))
    },
  })
}

export function context(store = new MemoryStore(), scope = 'key-a'): IngressContext & { pending: Promise<unknown>[] } {
  const pending: Promise<unknown>[] = []
  return { requestId: 'req-1', scope: () => Promise.resolve(scope), store, now: () => Date.now(), waitUntil: (p) => void pending.push(p), pending }
}

export interface Harness {
  url: string
  store: MemoryStore
  /** The chat requests the backend was sent, in order. */
  chats: Obj[]
  client(key?: string): OpenAI
  close(): Promise<void>
}

export async function startHarness(answer: (chat: Obj) => Answer): Promise<Harness> {
  const store = new MemoryStore()
  const ingress = responsesIngress({ retentionSeconds: 3600 })
  const chats: Obj[] = []
  const server: TestServer = await startServer(async (req, res) => {
    const url = new URL(req.url!, 'http://x')
    const ctx = context(store, (req.headers.authorization ?? '').replace(/^Bearer /, '') || 'anonymous')
    if (req.method === 'POST' && url.pathname === '/v1/responses') {
      const text = await readText(req)
      try {
        const r = await ingress.parse(JSON.parse(text), text, new Request('http://x/v1/responses', { method: 'POST' }), ctx)
        if (r.nativeOnly) throw r.nativeOnly // no native backend behind this harness
        chats.push(r.body)
        const a = answer(r.body)
        if (r.stream) {
          if (!('events' in a)) throw new Error('the script answered JSON to a stream')
          return send(res, new Response(webStream(ingress.stream(sseStream(a.events), r, ctx)), { headers: { 'content-type': 'text/event-stream' } }))
        }
        if (!('json' in a)) throw new Error('the script answered a stream to a JSON request')
        return send(res, Response.json(await ingress.respond(a.json, r, ctx)))
      } catch (e) {
        if (e instanceof GatewayError) return send(res, ingress.error(e, {}))
        throw e
      }
    }
    const routed = await responsesRoute(req.method!, url.pathname, url.searchParams, ctx)
    return send(res, routed ?? new Response('{"error":{"message":"no route"}}', { status: 404 }))
  })
  return {
    url: server.url,
    store,
    chats,
    client: (key = 'key-a') => new OpenAI({ apiKey: key, baseURL: `${server.url}/v1`, maxRetries: 0 }),
    close: () => server.close(),
  }
}

async function send(res: ServerResponse, r: Response): Promise<void> {
  res.writeHead(r.status, Object.fromEntries(r.headers))
  if (r.body) for await (const b of r.body as unknown as AsyncIterable<Uint8Array>) res.write(b)
  res.end()
}

/** The typed events of a Responses SSE body, checking each `event:` line names its data's type. */
export async function readEvents(stream: StreamBody): Promise<Obj[]> {
  const body = webStream(stream)
  const text = await new Response(body).text()
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((block) => {
      const [ev, data] = block.split('\n')
      const parsed = JSON.parse(data!.replace(/^data: /, ''))
      if (ev !== `event: ${parsed.type}`) throw new Error(`event line ${ev} does not match ${parsed.type}`)
      return parsed
    })
}
