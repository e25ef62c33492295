// Server-sent events: a byte-level splitter that keeps each event's raw bytes
// (so pass-through streams are never re-encoded) and an encoder.

const enc = new TextEncoder()

export interface SseEvent {
  /** The event's `event:` field, if any. */
  event?: string
  /** The joined `data:` lines. */
  data: string
}

/** Parse one event block (without the blank line that ends it). */
export function parseEventBlock(block: string): SseEvent | undefined {
  let event: string | undefined
  let data: string | undefined
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue
    const i = line.indexOf(':')
    const field = i < 0 ? line : line.slice(0, i)
    let value = i < 0 ? '' : line.slice(i + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') data = data === undefined ? value : `${data}\n${value}`
    else if (field === 'event') event = value
  }
  return data === undefined && event === undefined ? undefined : { event, data: data ?? '' }
}

/**
 * Splits a text stream into event blocks. Carries the partial tail between
 * chunks; normalises CRLF, which some servers send.
 */
export class SseSplitter {
  private buf = ''
  /** A CR that ended the last text: its LF, if any, starts the next. */
  private cr = false

  push(text: string): string[] {
    if (this.cr) {
      text = `\r${text}`
      this.cr = false
    }
    if (text.includes('\r')) {
      if (text.endsWith('\r')) {
        this.cr = true
        text = text.slice(0, -1)
      }
      text = text.replace(/\r\n?/g, '\n')
    }
    this.buf += text
    const out: string[] = []
    let i: number
    while ((i = this.buf.indexOf('\n\n')) >= 0) {
      out.push(this.buf.slice(0, i))
      this.buf = this.buf.slice(i + 2)
    }
    return out
  }

  /** What is left when the stream ends: an event without its blank line. */
  flush(): string | undefined {
    const rest = this.buf.trim()
    this.buf = ''
    this.cr = false
    return rest || undefined
  }
}

export function encodeData(data: unknown): Uint8Array {
  return enc.encode(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`)
}

export const DONE = enc.encode('data: [DONE]\n\n')
