// Mistral's chat SSE is OpenAI's, nearly: its last content chunk carries the
// usage (with the finish reason) where OpenAI sends a separate chunk with no
// choices, and its tool call ids may be replacements (ids.ts) to turn back.
// Each chunk is rewritten only when it needs it; [DONE] ends the stream.
import { DONE, encodeData } from '../../api/sse.ts'
import { SseTranslator, errorChunk, pump } from '../sse-translator.ts'
import { errorOf } from './errors.ts'
import type { ToolIds } from './ids.ts'

type Obj = Record<string, any>

/** Tool call ids in a chunk or a completion's choices, turned back to the client's. */
export function restoreIds(choices: unknown, ids: ToolIds): void {
  if (!ids.mapped || !Array.isArray(choices)) return
  for (const c of choices as Obj[]) {
    for (const t of [...(c?.delta?.tool_calls ?? []), ...(c?.message?.tool_calls ?? [])]) if (typeof t?.id === 'string') t.id = ids.back(t.id)
  }
}

export class MistralStreamTranslator extends SseTranslator {
  protected readonly lastEvent = '[DONE]'

  constructor(private ids: ToolIds) {
    super()
  }

  protected override done(out: Uint8Array[]) {
    this.finished = true
    out.push(DONE)
  }

  protected data(chunk: Obj, out: Uint8Array[]) {
    if (chunk?.object === 'error' || chunk?.error) {
      const e = chunk.error ?? errorOf(chunk)?.error ?? {}
      const type = typeof e.type === 'string' ? e.type : 'upstream_error'
      return this.fail(out, typeof e.message === 'string' ? e.message : 'upstream error', e.code ? String(e.code) : type, type)
    }
    restoreIds(chunk.choices, this.ids)
    const usage = chunk.usage
    if (usage && Array.isArray(chunk.choices) && chunk.choices.length) {
      // OpenAI's order: the finish chunk, then usage alone (which the gateway drops when the client did not ask).
      out.push(encodeData({ ...chunk, usage: undefined }))
      out.push(encodeData({ id: chunk.id, object: 'chat.completion.chunk', created: chunk.created, model: chunk.model, choices: [], usage }))
    } else out.push(encodeData(chunk))
  }
}

export const translateStream = (upstream: ReadableStream<Uint8Array>, ids: ToolIds) => pump(upstream, new MistralStreamTranslator(ids))
