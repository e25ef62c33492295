// The built-in demo backend: a deterministic echo, so the first curl and the
// first SDK call work with no API key and no network. It answers like an
// OpenAI server would, streaming included, and says plainly what it is.
import { DONE, encodeData } from '../../api/sse.ts'
import type { Provider, ProviderResult, UpstreamCall, Usage } from '../types.ts'

const PREFIX = '[kortex demo backend] You said: '

/** A rough token count: the demo has no tokenizer and needs none. */
const tokens = (s: string) => Math.max(1, Math.ceil(s.length / 4))

function lastUserText(body: Record<string, unknown>): string {
  const messages = (body.messages ?? []) as Array<{ role: string; content?: unknown }>
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!
    if (m.role !== 'user') continue
    if (typeof m.content === 'string') return m.content
    if (Array.isArray(m.content)) {
      return m.content.map((p: { type?: string; text?: string }) => (p.type === 'text' ? p.text : '')).join('')
    }
  }
  return ''
}

function promptText(body: Record<string, unknown>): string {
  const p = body.prompt
  return typeof p === 'string' ? p : Array.isArray(p) ? p.filter((x) => typeof x === 'string').join('\n') : ''
}

function usage(prompt: string, completion: string): Usage {
  const p = tokens(prompt)
  const c = tokens(completion)
  return { prompt_tokens: p, completion_tokens: c, total_tokens: p + c }
}

/** A deterministic unit vector from the text (FNV-1a seeded xorshift). */
function embed(text: string, dims: number): number[] {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  const v: number[] = []
  for (let i = 0; i < dims; i++) {
    h ^= h << 13
    h ^= h >>> 17
    h ^= h << 5
    h >>>= 0
    v.push(h / 0xffffffff - 0.5)
  }
  const norm = Math.hypot(...v) || 1
  return v.map((x) => Math.fround(x / norm))
}

function toBase64(v: number[]): string {
  const bytes = new Uint8Array(new Float32Array(v).buffer)
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s)
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const t = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true })
  })

/** Streams `pieces`; chat starts with the role preamble (i = -1), completions do not. */
function stream(call: UpstreamCall, id: string, object: string, pieces: string[], u: Usage, chunk: (text: string | null, finish: string | null, first: boolean) => unknown): ProviderResult {
  const delay = call.backend.spec.demo?.chunkDelayMs ?? 0
  let i = call.op === 'chat' ? -1 : 0
  const body = new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      if (i >= 0 && delay) await sleep(delay, call.signal).catch(() => undefined)
      if (call.signal.aborted) return ctrl.close()
      const created = Math.floor(Date.now() / 1000)
      const base = { id, object, created, model: call.body.model }
      if (i < pieces.length) {
        ctrl.enqueue(encodeData({ ...base, ...(chunk(i < 0 ? '' : pieces[i]!, null, i < 0) as object) }))
      } else {
        ctrl.enqueue(encodeData({ ...base, ...(chunk(null, 'stop', false) as object) }))
        ctrl.enqueue(encodeData({ ...base, choices: [], usage: u }))
        ctrl.enqueue(DONE)
        ctrl.close()
      }
      i++
    },
  })
  return { kind: 'stream', body }
}

export const demo: Provider = {
  supports: () => true,
  async send(call) {
    const id = `demo-${call.requestId}`
    const created = Math.floor(Date.now() / 1000)
    const model = call.body.model
    if (call.op === 'embeddings') {
      const input = call.body.input
      const texts = typeof input === 'string' ? [input] : Array.isArray(input) ? input.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))) : []
      const dims = typeof call.body.dimensions === 'number' ? call.body.dimensions : 16
      const b64 = call.body.encoding_format === 'base64'
      const prompt = texts.join(' ')
      return {
        kind: 'json',
        body: {
          object: 'list',
          model,
          data: texts.map((t, index) => ({ object: 'embedding', index, embedding: b64 ? toBase64(embed(t, dims)) : embed(t, dims) })),
          usage: { prompt_tokens: tokens(prompt), total_tokens: tokens(prompt) },
        },
      }
    }
    const input = call.op === 'chat' ? lastUserText(call.body) : promptText(call.body)
    const text = PREFIX + input
    const u = usage(call.op === 'chat' ? JSON.stringify(call.body.messages) : input, text)
    if (call.op === 'completions') {
      if (call.stream) {
        return stream(call, id, 'text_completion', text.split(/(?<= )/), u, (t, finish) => ({
          choices: [{ index: 0, text: t ?? '', logprobs: null, finish_reason: finish }],
        }))
      }
      return {
        kind: 'json',
        body: { id, object: 'text_completion', created, model, choices: [{ index: 0, text, logprobs: null, finish_reason: 'stop' }], usage: u },
      }
    }
    if (call.stream) {
      return stream(call, id, 'chat.completion.chunk', text.split(/(?<= )/), u, (t, finish, first) => ({
        choices: [{ index: 0, delta: first ? { role: 'assistant', content: '' } : t === null ? {} : { content: t }, logprobs: null, finish_reason: finish }],
      }))
    }
    return {
      kind: 'json',
      body: {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: 'stop' }],
        usage: u,
      },
    }
  },
}
