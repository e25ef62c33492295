// Exact token counts for OpenAI's tiktoken encodings, from js-tiktoken's rank
// files loaded on first use. We only count (no ids, no decode), so the table is
// one Map from a token's bytes, as a latin1 string, to its rank. Measured on
// Node 20 (scripts/bench-tokens.ts, heap including the rank file): cl100k and
// o200k each build in 0.2–0.4 s, in 8 and 16.5 MB, where js-tiktoken's own
// Tiktoken takes 0.6–1.3 s / 33 MB and 2–3.5 s / 67 MB. Its merge is also
// quadratic with a large constant (one 16k-letter word took a minute); ours
// switches to a heap for long pieces. Counts match js-tiktoken's encode()
// exactly (checked in test/usage/tokens.test.ts).

import { pieceEnd, type Split } from './pretokenize.ts'
import { PieceTable, hashOf } from './piece-table.ts'

export type Encoding = 'o200k_base' | 'cl100k_base'

/** A rank file of js-tiktoken's (`js-tiktoken/ranks/<encoding>`): the split pattern and the ranks. */
export interface Ranks {
  pat_str: string
  bpe_ranks: string
}

/**
 * Where an encoding's rank file comes from. The tables are 3.4 MB, so the core
 * does not import them: each runtime's entry says (`useRankSource`), a package
 * import on Node and Deno (package-ranks.ts), static assets on Workers. With no
 * source, exact counts fail and their callers fall back on the estimate.
 */
export type RankSource = (name: Encoding) => Promise<Ranks>

export interface Encoder {
  /** Tokens in `text`, special tokens (`<|endoftext|>`) counted as plain text, as the API does. */
  count(text: string): number
  /**
   * The same count in steps of bounded work (about STEP characters or merges
   * each, a few ms): a caller may yield to other work between them, so one
   * huge text does not hold the event loop. The generator returns the count.
   */
  steps(text: string): Generator<void, number, void>
}

/** Work per step: characters split into pieces, or merges in one long piece. */
export const STEP = 4096

let source: RankSource | undefined

/** Sets where rank files are loaded from (once, at start); encoders already built stay. */
export function useRankSource(s: RankSource | undefined): void {
  source = s
}

const loading = new Map<Encoding, Promise<Encoder>>()
const ready = new Map<Encoding, Encoder>()

/** The encoder, built once; concurrent first callers share one promise. A failed load is retried next time. */
export function loadEncoder(name: Encoding): Promise<Encoder> {
  let p = loading.get(name)
  if (!p) {
    const from = source
    p = (from ? from(name) : Promise.reject(new Error(`no tokenizer rank source for ${name}`))).then((r) => {
      const e = buildEncoder(r)
      ready.set(name, e)
      return e
    })
    p.catch(() => loading.delete(name))
    loading.set(name, p)
  }
  return p
}

/** The encoder if it is built, without waiting: callers on the hot path. */
export const readyEncoder = (name: Encoding): Encoder | undefined => ready.get(name)

/** Encodings whose load has started (or finished). */
export const loadedEncodings = (): Encoding[] => [...loading.keys()]

export function buildEncoder(r: Ranks): Encoder {
  const ranks = new Map<string, number>()
  // One or more lines of "<tag> <first rank> <base64 token> <base64 token> ...".
  for (const line of r.bpe_ranks.split('\n')) {
    const f = line.split(' ')
    let rank = Number(f[1])
    for (let i = 2; i < f.length; i++) ranks.set(atob(f[i]!), rank++)
  }
  const pattern = new RegExp(r.pat_str, 'yu')
  const merged = new Map<string, number>()
  const split = SPLITS[r.pat_str]
  const table = new PieceTable()
  const steps = (text: string) => countText(text, pattern, split, ranks, merged, table)
  return { count: (text) => finish(steps(text)), steps }
}

/** Runs steps to the end, at once. */
function finish(g: Generator<void, number, void>): number {
  for (;;) {
    const r = g.next()
    if (r.done) return r.value
  }
}

// Words that are not one token repeat across prompts ("lorem", "Kubernetes"): their
// merged counts are kept, up to this many, then the table starts afresh.
const MERGED_MAX = 50_000

const NONE = 0x7fffffff
const encoder = new TextEncoder()

// The encodings whose split pretokenize.ts knows by hand; any other pattern is run as it is.
const SPLITS: Record<string, Split> = {
  "('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": 'cl100k',
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": 'o200k',
}

/** The pieces of `text`, as the end of each in turn: by hand where pretokenize.ts can, else by the sticky pattern. */
export function nextPieceEnd(text: string, at: number, pattern: RegExp, split: Split | undefined): number {
  const e = split ? pieceEnd(split, text, at) : -1
  if (e > at) return e
  pattern.lastIndex = at
  // The patterns' alternatives cover every character, so a piece always starts here.
  if (!pattern.test(text)) throw new Error(`tokenizer: no piece at ${at}`)
  return pattern.lastIndex
}

// ASCII pieces (the hand-written split's) are looked up where they stand; the
// others are cut out and turned into the rank keys' latin1 form first.
function* countText(text: string, pattern: RegExp, split: Split | undefined, ranks: Map<string, number>, merged: Map<string, number>, table: PieceTable): Generator<void, number, void> {
  let n = 0
  let at = 0
  let step = STEP
  while (at < text.length) {
    if (at >= step) {
      step = at + STEP
      yield
    }
    let end = split ? pieceEnd(split, text, at) : -1
    let src = text
    let start = at
    if (end > at) at = end
    else {
      end = nextPieceEnd(text, at, pattern, undefined)
      src = latin1(text.slice(at, end))
      start = 0
      at = end
      end = src.length
    }
    const h = hashOf(src, start, end)
    let k = table.find(src, start, end, h)
    if (k < 0) {
      const piece = start === 0 && end === src.length ? src : src.slice(start, end)
      k = piece.length > 128 && !ranks.has(piece) ? yield* mergeLong(piece, ranks) : piecesOf(piece, ranks, merged)
      table.add(piece, h, k)
    }
    n += k
  }
  return n
}

function piecesOf(piece: string, ranks: Map<string, number>, merged: Map<string, number>): number {
  if (ranks.has(piece)) return 1
  let k = merged.get(piece)
  if (k === undefined) {
    k = mergeShort(piece, ranks)
    if (merged.size >= MERGED_MAX) merged.clear()
    merged.set(piece, k)
  }
  return k
}

/** The piece's UTF-8 bytes as a string of chars 0–255, the form the rank keys have. */
function latin1(s: string): string {
  let ascii = true
  for (let i = 0; i < s.length && ascii; i++) ascii = s.charCodeAt(i) < 0x80
  if (ascii) return s
  const b = encoder.encode(s)
  let out = ''
  for (let i = 0; i < b.length; i += 4096) out += String.fromCharCode(...b.subarray(i, i + 4096))
  return out
}

// tiktoken's merge: join the lowest-ranked adjacent pair, leftmost on ties, until none is a token.
function mergeShort(p: string, ranks: Map<string, number>): number {
  let len = p.length + 1 // part boundaries; parts = len - 1
  const start = new Int32Array(len)
  const rank = new Int32Array(len)
  for (let i = 0; i < len; i++) start[i] = i
  const pair = (i: number) => (i + 2 < len ? (ranks.get(p.slice(start[i], start[i + 2])) ?? NONE) : NONE)
  for (let i = 0; i < len; i++) rank[i] = pair(i)
  for (;;) {
    let min = NONE
    let at = -1
    for (let i = 0; i + 2 < len; i++) {
      if (rank[i]! < min) {
        min = rank[i]!
        at = i
      }
    }
    if (at < 0) return len - 1
    start.copyWithin(at + 1, at + 2, len)
    rank.copyWithin(at + 1, at + 2, len)
    len--
    rank[at] = pair(at)
    if (at > 0) rank[at - 1] = pair(at - 1)
  }
}

// The same merges in the same order, from a heap keyed (rank, position): O(n log n).
// In steps: a piece can be a whole prompt (a megabyte of letters without a space).
function* mergeLong(p: string, ranks: Map<string, number>): Generator<void, number, void> {
  const n = p.length
  const next = new Int32Array(n) // part i covers p[i, next[i]); a merged-away part has rank -1
  const prev = new Int32Array(n)
  const rank = new Int32Array(n)
  const heap: number[] = []
  const W = 2 ** 32 // key = rank * W + position; ranks < 2^18, so keys stay exact
  const pair = (i: number) => {
    const j = next[i]!
    return j < n ? (ranks.get(p.slice(i, next[j])) ?? NONE) : NONE
  }
  const queue = (i: number) => {
    rank[i] = pair(i)
    if (rank[i] !== NONE) push(heap, rank[i]! * W + i)
  }
  for (let i = 0; i < n; i++) {
    next[i] = i + 1
    prev[i] = i - 1
  }
  for (let i = 0; i < n; i++) {
    queue(i)
    if (i % STEP === STEP - 1) yield
  }
  let parts = n
  let work = 0
  while (heap.length) {
    if (++work === STEP) {
      work = 0
      yield
    }
    const key = pop(heap)
    const r = Math.floor(key / W)
    const i = key - r * W
    if (rank[i] !== r) continue // stale: merged away or re-ranked since
    const j = next[i]!
    rank[j] = -1
    next[i] = next[j]!
    if (next[i]! < n) prev[next[i]!] = i
    parts--
    queue(i)
    if (prev[i]! >= 0) queue(prev[i]!)
  }
  return parts
}

function push(h: number[], k: number): void {
  let i = h.length
  h.push(k)
  while (i > 0) {
    const up = (i - 1) >> 1
    if (h[up]! <= k) break
    h[i] = h[up]!
    i = up
  }
  h[i] = k
}

function pop(h: number[]): number {
  const top = h[0]!
  const last = h.pop()!
  const n = h.length
  if (n === 0) return top
  let i = 0
  for (;;) {
    let c = 2 * i + 1
    if (c >= n) break
    if (c + 1 < n && h[c + 1]! < h[c]!) c++
    if (h[c]! >= last) break
    h[i] = h[c]!
    i = c
  }
  h[i] = last
  return top
}
