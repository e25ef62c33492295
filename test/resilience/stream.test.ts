// What a client of a streamed answer gets, however the upstream's bytes are
// cut into reads: the same events (plain ones byte for byte), usage read and
// its chunk dropped when only the gateway asked for it, an upstream error
// event passed on without our secrets, and never a clean end of a cut,
// failed or stalled stream.
import { describe, expect, it } from 'vitest'
import { openStream, plainEvents, type StreamOptions } from '../../src/resilience/stream.ts'
import { UpstreamError } from '../../src/providers/errors.ts'
import { Scrubber } from '../../src/telemetry/scrub.ts'
import { claimBytes, offerBytes, webStream, type ByteReader, type StreamBody } from '../../src/providers/types.ts'

const enc = new TextEncoder()
const chunk = (delta: object, finish: string | null = null, extra: object = {}) =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra })}\n\n`
const USAGE = { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 }
const usageChunk = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: USAGE })}\n\n`
const DONE = 'data: [DONE]\n\n'
const answer = [
  chunk({ role: 'assistant', content: '' }, null, { usage: null }),
  chunk({ content: 'Hello' }, null, { usage: null }),
  chunk({ content: ' wörld 👋' }, null, { usage: null }),
  chunk({}, 'stop', { usage: null }),
]

type End = 'close' | Error | 'stall'

/** An upstream body that hands out `pieces` one read at a time, then ends (or fails, or stalls). */
function webUpstream(pieces: Array<string | Uint8Array>, end: End = 'close'): ReadableStream<Uint8Array> {
  let i = 0
  return new ReadableStream<Uint8Array>({
    pull(ctrl) {
      if (i < pieces.length) {
        const p = pieces[i++]!
        return ctrl.enqueue(typeof p === 'string' ? enc.encode(p) : p)
      }
      if (end === 'close') ctrl.close()
      else if (end instanceof Error) ctrl.error(end)
      else return new Promise(() => {})
    },
  })
}

/** Every cut of the same bytes: whole events, byte by byte, mid-character, several events per read. */
function cuts(text: string): Array<Uint8Array[]> {
  const b = enc.encode(text)
  const at = (sizes: number[]) => {
    const out: Uint8Array[] = []
    for (let i = 0, k = 0; i < b.length; k++) {
      const n = sizes[k % sizes.length]!
      out.push(b.slice(i, i + n))
      i += n
    }
    return out
  }
  return [at([1]), at([7]), at([5, 300]), at([b.length]), at([2, 3, 1000, 13])]
}

function options(over: Partial<StreamOptions> = {}): StreamOptions & { aborted: unknown[] } {
  const aborted: unknown[] = []
  const ctl = new AbortController()
  return { stripUsage: false, idleTimeoutMs: 5000, abort: (r) => (aborted.push(r), ctl.abort(r)), signal: ctl.signal, aborted, ...over }
}

/**
 * The same upstream as a runtime's fetch offers it on Node: bytes by callbacks (BYTE_SOURCE), one
 * piece per macrotask, none while the reader said "enough"; its Web stream must not be read.
 */
function bytesUpstream(pieces: Array<string | Uint8Array>, end: End = 'close'): ReadableStream<Uint8Array> {
  const web = new ReadableStream<Uint8Array>({
    pull() {
      throw new Error('the Web stream was read, not the bytes')
    },
  })
  let reader: ByteReader | undefined
  let i = 0
  let paused = false
  let scheduled = false
  const tick = () => {
    scheduled = false
    if (!reader || paused) return
    if (i < pieces.length) {
      const p = pieces[i++]!
      if (!reader.data(typeof p === 'string' ? enc.encode(p) : p)) paused = true
      return schedule()
    }
    const r = reader
    reader = undefined
    if (end === 'close') r.end()
    else if (end instanceof Error) r.error(end)
  }
  const schedule = () => {
    if (!scheduled) (scheduled = true), setTimeout(tick, 0)
  }
  let claimed = false
  offerBytes(web, () => {
    if (claimed) return undefined
    claimed = true
    return {
      read: (r) => ((reader = r), schedule()),
      resume: () => ((paused = false), schedule()),
      cancel: () => (reader = undefined),
    }
  })
  return web
}

/** The client's side read by callbacks, as the Node server does; a slow client says "enough" after each chunk and resumes `slowMs` later. */
function readClaimed(body: StreamBody, slowMs = 0): Promise<string> {
  const src = claimBytes(body)
  if (!src) throw new Error('the body offers no bytes')
  const dec = new TextDecoder()
  let text = ''
  return new Promise((resolve, reject) =>
    src.read({
      data(c) {
        text += dec.decode(c, { stream: true })
        if (!slowMs) return true
        setTimeout(() => src.resume(), slowMs)
        return false
      },
      end: () => resolve(text + dec.decode()),
      error: reject,
    }),
  )
}

const dataOf = (text: string) =>
  text
    .split('\n\n')
    .filter(Boolean)
    .map((b) => b.replace(/^data: /, ''))

// Every case four ways: the upstream as a Web stream or as bytes by callbacks, the client reading a Web stream or taking the bytes.
const MODES = [
  { name: 'Web stream to Web stream', bytes: false, claim: false },
  { name: 'bytes to Web stream', bytes: true, claim: false },
  { name: 'Web stream to bytes', bytes: false, claim: true },
  { name: 'bytes to bytes', bytes: true, claim: true },
]

describe.each(MODES)('openStream, $name', (mode) => {
  const upstream = (pieces: Array<string | Uint8Array>, end: End = 'close') => (mode.bytes ? bytesUpstream : webUpstream)(pieces, end)
  const readAll = (body: StreamBody) => (mode.claim ? readClaimed(body) : new Response(webStream(body)).text())
  it('passes every event on unchanged, each event sent whole, whatever the reads', async () => {
    const text = [...answer, usageChunk, DONE].join('')
    for (const pieces of [answer.concat(usageChunk, DONE), ...cuts(text)]) {
      const opts = options()
      const s = await openStream(upstream(pieces), opts)
      expect(await readAll(s.body)).toBe(text)
      const o = await s.done
      expect(o).toEqual({ chunks: 5, usage: USAGE })
    }
  })

  it('reads usage and drops its chunk when the client did not ask for it', async () => {
    const text = [...answer, usageChunk, DONE].join('')
    for (const pieces of [answer.concat(usageChunk, DONE), ...cuts(text)]) {
      const s = await openStream(upstream(pieces), options({ stripUsage: true }))
      expect(await readAll(s.body)).toBe([...answer, DONE].join(''))
      expect((await s.done).usage).toEqual(USAGE)
    }
  })

  it("drops a BOM at the stream's start, whether it comes whole with the first events or byte by byte", async () => {
    const text = ['\uFEFF' + answer[0], ...answer.slice(1), DONE].join('')
    for (const pieces of [[text], [...enc.encode(text)].map((b) => new Uint8Array([b]))]) {
      const s = await openStream(upstream(pieces), options())
      expect(await readAll(s.body)).toBe([...answer, DONE].join(''))
    }
  })

  it('normalises CRLF events, as before', async () => {
    const crlf = [...answer, DONE].join('').replaceAll('\n', '\r\n')
    for (const pieces of cuts(crlf)) {
      const s = await openStream(upstream(pieces), options())
      expect(dataOf(await readAll(s.body))).toEqual(dataOf([...answer, DONE].join('')))
      expect((await s.done).error).toBeUndefined()
    }
  })

  it("passes an upstream's error event on without our secrets, and ends there", async () => {
    const secret = 'test-secret-key-0123456789'
    const error = `data: ${JSON.stringify({ error: { message: `overloaded (key ${secret})`, type: 'server_error', code: 'overloaded' } })}\n\n`
    const text = [...answer.slice(0, 3), error, chunk({ content: 'never' }), DONE].join('')
    for (const pieces of cuts(text)) {
      const s = await openStream(upstream(pieces), options({ scrub: new Scrubber(() => [secret]) }))
      const out = await readAll(s.body)
      expect(out).not.toContain(secret)
      expect(dataOf(out).at(-1)).toBe(JSON.stringify({ error: { message: 'overloaded (key ***)', type: 'server_error', code: 'overloaded' } }))
      expect(out).not.toContain('never')
      expect((await s.done).error).toBe('overloaded (key ***)')
    }
  })

  it('a stream cut before [DONE] ends in an error event, not a clean end', async () => {
    for (const pieces of cuts(answer.join(''))) {
      const s = await openStream(upstream(pieces), options())
      const last = JSON.parse(dataOf(await readAll(s.body)).at(-1)!)
      expect(last.error.code).toBe('upstream_stream_truncated')
      expect((await s.done).error).toMatch(/ended before the response was complete/)
    }
  })

  it('a stream that fails mid-way ends in an error event', async () => {
    const s = await openStream(upstream(answer.slice(0, 3), new TypeError('terminated')), options())
    const last = JSON.parse(dataOf(await readAll(s.body)).at(-1)!)
    expect(last.error.code).toBe('upstream_stream_interrupted')
  })

  it('a stream that stalls after content ends in a timeout event, and the upstream is aborted', async () => {
    const opts = options({ idleTimeoutMs: 50 })
    const s = await openStream(upstream(answer.slice(0, 2), 'stall'), opts)
    const events = dataOf(await readAll(s.body))
    expect(JSON.parse(events.at(-1)!).error.code).toBe('upstream_timeout')
    expect(events).toHaveLength(3)
    expect(opts.aborted[0]).toBeInstanceOf(UpstreamError)
    expect((await s.done).error).toMatch(/no data for 50 ms/)
  })

  it('a client slower than the idle timeout is not taken for a stalled upstream', async () => {
    const s = await openStream(upstream([...answer, DONE]), options({ idleTimeoutMs: 20 }))
    let text = ''
    if (mode.claim) text = await readClaimed(s.body, 60)
    else {
      const reader = webStream(s.body).getReader()
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        text += new TextDecoder().decode(r.value)
        await new Promise((res) => setTimeout(res, 60))
      }
    }
    expect(text).toBe([...answer, DONE].join(''))
    expect((await s.done).error).toBeUndefined()
  })

  it('a client that goes away aborts the upstream', async () => {
    const opts = options()
    const s = await openStream(upstream(answer.slice(0, 2), 'stall'), opts)
    if (mode.claim) {
      const src = claimBytes(s.body)!
      await new Promise<void>((first) => src.read({ data: () => (first(), true), end() {}, error() {} }))
      src.cancel(new Error('gone'))
    } else {
      const reader = webStream(s.body).getReader()
      await reader.read()
      await reader.cancel(new Error('gone'))
    }
    expect(await s.done).toMatchObject({ cancelled: true })
    expect(opts.aborted).toHaveLength(1)
  })

  it('an error event before any content is an UpstreamError to fail over on', async () => {
    const error = `data: ${JSON.stringify({ error: { message: 'rate limited', type: 'rate_limit_error' } })}\n\n`
    await expect(openStream(upstream([answer[0]!, error]), options())).rejects.toMatchObject({ cls: 'rate_limit' })
  })
})

describe('plainEvents', () => {
  const ok = (s: string) => plainEvents(enc.encode(s))
  it('counts whole plain data events', () => {
    expect(ok(answer[1]!)).toBe(1)
    expect(ok(answer.join(''))).toBe(4)
    expect(ok(chunk({ content: 'the "usage" of "error" in text' }))).toBe(1)
  })
  it('sends anything else the careful way', () => {
    for (const s of [DONE, usageChunk, answer[1]!.replace('\n\n', '\n'), answer[1]!.replaceAll('\n', '\r\n'), `: keep-alive\n\n`, `event: x\n${answer[1]}`, `${answer[1]}\n`, `data: {"error":{"message":"x"}}\n\n`, `${answer[1]}data: {"x":1,"usage": {"total_tokens":1}}\n\n`])
      expect(ok(s), s).toBe(-1)
  })
})
