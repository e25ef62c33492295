// Shared by the Messages ingress tests: a context, a parse, and internal streams.
import { MemoryStore } from '../../../src/state/memory.ts'
import type { IngressContext, IngressRequest } from '../../../src/api/ingress.ts'
import { messagesIngress } from '../../../src/api/messages/index.ts'
import { webStream, type StreamBody } from '../../../src/providers/types.ts'

export const ingress = messagesIngress()

export const ctx: IngressContext = { requestId: 'req-1', scope: () => Promise.resolve('anonymous'), store: new MemoryStore(), now: () => 0, waitUntil: () => {} }

export async function parse(json: Record<string, unknown>): Promise<IngressRequest> {
  const text = JSON.stringify(json)
  return ingress.parse(json, text, new Request('http://gw/v1/messages', { method: 'POST', body: text }), ctx)
}

/** An internal (OpenAI chat) SSE body from chunks, split into pieces of `size` bytes to cross event boundaries. */
export function internalStream(events: Array<Record<string, unknown> | string>, size = 7): ReadableStream<Uint8Array> {
  const text = events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`).join('')
  const bytes = new TextEncoder().encode(text)
  let at = 0
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close()
      c.enqueue(bytes.slice(at, at + size))
      at += size
    },
  })
}

export const chunk = (delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-4o-2024-08-06',
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish, ...extra }],
})

export const usageChunk = (u: Record<string, unknown>) => ({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-2024-08-06', choices: [], usage: u })

/** Anthropic's events as [event name, data] pairs. */
export async function events(body: StreamBody): Promise<Array<[string, any]>> {
  const stream = webStream(body)
  const text = await new Response(stream).text()
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((block) => {
      const name = /^event: (.*)$/m.exec(block)![1]!
      const data = JSON.parse(/^data: (.*)$/m.exec(block)![1]!)
      return [name, data] as [string, any]
    })
}
