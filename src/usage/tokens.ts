// A prompt's size in tokens, for decisions made before the call: routing rules
// ("prompt over 4k tokens goes to claude-3-opus") and token rate limits at
// admission. Accounting should trust the provider's usage instead.
//
// Building an encoder costs 0.2–0.4 s and 8–16.5 MB (bpe.ts), so there are two ways:
// - estimatePromptTokens: no encoder, one pass over the text, a range that holds
//   for prose, code and other scripts (measured in scripts/bench-tokens.ts);
// - countPromptTokens: exact for the model's encoding, loading it on first use.
// promptTokensWithin uses the first and counts only when the range straddles a bound;
// reservePromptTokens counts exactly, synchronously once the encoder is built.
import { STEP, loadEncoder, loadedEncodings, readyEncoder, useRankSource, type Encoder, type Encoding, type RankSource } from './bpe.ts'
import { Lru } from './lru.ts'

export { loadedEncodings, useRankSource, type Encoding, type RankSource }

export interface Estimate {
  tokens: number
  low: number
  high: number
}

/**
 * The tiktoken encoding a model counts with (`openai/` style prefixes and `ft:` are ignored).
 * Claude, Llama, Mistral, Gemini, Qwen... publish no tiktoken encoding: they get
 * cl100k_base as an approximation, so their counts can be off by 10–30% either way.
 */
export function encodingFor(model: string): Encoding {
  const m = String(model ?? '').toLowerCase().replace(/^ft:/, '').replace(/^.*\//, '')
  return /^(gpt-4o|gpt-4\.[15]|gpt-5|gpt-oss|chatgpt-4o|o\d(-|$))/.test(m) ? 'o200k_base' : 'cl100k_base'
}

// -- What a body asks the model to read ---------------------------------------

// OpenAI cookbook, "How to count tokens with tiktoken": every message is wrapped in
// 3 tokens, a name costs 1 more, the reply is primed with 3; tools add the constants below.
const MESSAGE = 3
const NAME = 1
const REPLY = 3
const FUNC_INIT: Record<Encoding, number> = { o200k_base: 7, cl100k_base: 10 }
const PROP_INIT = 3
const PROP_KEY = 3
const ENUM_INIT = -3
const ENUM_ITEM = 3
const FUNC_END = 12
// A tool call the assistant made: its name and arguments, plus our guess for the wrapping.
const CALL = 3
// Images: we do not decode them, so their size is unknown. With gpt-4o's tiles a
// high-detail image costs 85 + 170 per 512-px tile: 765 for a square, at most 1445;
// `detail: low` is a flat 85. Other models (gpt-4o-mini, patch-based ones) bill more.
const IMAGE = { low: 85, tokens: 765, high: 1445 }

/** Texts to count and tokens known without counting. */
interface Prompt {
  texts: string[]
  /** texts[newFrom, newTo): the last message's, new this turn (the others come back in later turns). */
  newFrom: number
  newTo: number
  /** Wrapping and pre-tokenized inputs (token arrays). */
  fixed: number
  /** Tool definitions: their wrapping differs by encoding. */
  functions: number
  /** Images of unknown size, and `detail: low` ones. */
  images: number
  lowDetail: number
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const str = (v: unknown) => (typeof v === 'string' ? v : '')
const noDot = (s: string) => (s.endsWith('.') ? s.slice(0, -1) : s)

/** Chat (messages, tools), completions (prompt) or embeddings (input); anything else reads as empty. */
function readPrompt(body: unknown): Prompt {
  const p: Prompt = { texts: [], newFrom: 0, newTo: 0, fixed: 0, functions: 0, images: 0, lowDetail: 0 }
  if (!isObj(body)) return p
  if (Array.isArray(body.messages)) {
    const last = body.messages.length - 1
    body.messages.forEach((m, i) => {
      if (!isObj(m)) return
      if (i === last) p.newFrom = p.texts.length
      readMessage(m, p)
      if (i === last) p.newTo = p.texts.length
    })
    p.fixed += REPLY
    if (Array.isArray(body.tools)) for (const t of body.tools) if (isObj(t) && isObj(t.function)) readFunction(t.function, p)
    if (Array.isArray(body.functions)) for (const f of body.functions) if (isObj(f)) readFunction(f, p)
  } else if ('prompt' in body) readInputs(body.prompt, p)
  else if ('input' in body) readInputs(body.input, p)
  return p
}

function add(p: Prompt, s: string): void {
  if (s) p.texts.push(s)
}

// One token each in both encodings: no need to count them.
const ROLES = new Set(['system', 'user', 'assistant', 'tool', 'developer', 'function'])

function readMessage(m: Obj, p: Prompt): void {
  p.fixed += MESSAGE
  if (typeof m.role === 'string' && ROLES.has(m.role)) p.fixed++
  else add(p, str(m.role))
  if (typeof m.content === 'string') add(p, m.content)
  else if (Array.isArray(m.content)) for (const part of m.content) readPart(part, p)
  if (typeof m.name === 'string') {
    p.fixed += NAME
    add(p, m.name)
  }
  if (Array.isArray(m.tool_calls)) for (const c of m.tool_calls) if (isObj(c)) readCall(c.function, p)
  readCall(m.function_call, p)
}

function readPart(part: unknown, p: Prompt): void {
  if (typeof part === 'string') return add(p, part)
  if (!isObj(part)) return
  if (typeof part.text === 'string') add(p, part.text)
  else if (typeof part.refusal === 'string') add(p, part.refusal)
  else if (part.type === 'image_url' || isObj(part.image_url)) {
    if (isObj(part.image_url) && part.image_url.detail === 'low') p.lowDetail++
    else p.images++
  }
  // Audio and files are not counted: their size is not in the request's text.
}

function readCall(call: unknown, p: Prompt): void {
  if (!isObj(call)) return
  p.fixed += CALL
  add(p, str(call.name))
  add(p, str(call.arguments))
}

function readFunction(f: Obj, p: Prompt): void {
  p.functions++
  add(p, `${str(f.name)}:${noDot(str(f.description))}`)
  if (isObj(f.parameters)) readProperties(f.parameters.properties, p, 0)
}

function readProperties(props: unknown, p: Prompt, depth: number): void {
  if (!isObj(props) || depth > 4) return
  const keys = Object.keys(props)
  if (!keys.length) return
  p.fixed += PROP_INIT
  for (const key of keys) {
    const s = isObj(props[key]) ? (props[key] as Obj) : {}
    const type = Array.isArray(s.type) ? s.type.filter((t) => typeof t === 'string').join(' | ') : str(s.type)
    p.fixed += PROP_KEY
    add(p, `${key}:${type}:${noDot(str(s.description))}`)
    if (Array.isArray(s.enum)) {
      p.fixed += ENUM_INIT
      for (const e of s.enum) {
        p.fixed += ENUM_ITEM
        add(p, typeof e === 'string' ? e : String(JSON.stringify(e)))
      }
    }
    // Nested schemas are not in the cookbook's formula; counting them alike is our guess.
    readProperties(s.properties, p, depth + 1)
    if (isObj(s.items)) readProperties(s.items.properties, p, depth + 1)
  }
}

/** `string | string[]`, or already tokens: `number[] | number[][]`. */
function readInputs(v: unknown, p: Prompt): void {
  if (typeof v === 'string') return add(p, v)
  if (!Array.isArray(v)) return
  for (const x of v) {
    if (typeof x === 'string') add(p, x)
    else if (typeof x === 'number') p.fixed++
    else if (Array.isArray(x)) for (const t of x) if (typeof t === 'number') p.fixed++
  }
}

/** Tokens known without counting text, for one encoding; images of unknown size apart. */
function fixedTokens(p: Prompt, enc: Encoding): number {
  const tools = p.functions ? p.functions * FUNC_INIT[enc] + FUNC_END : 0
  return p.fixed + tools + p.lowDetail * IMAGE.low
}

// -- Estimate ------------------------------------------------------------------

// chars ÷ 4 lands anywhere from −33% to +20% of the exact count on code and
// prose (5th–95th percentile of our samples) and −60…−75% on CJK, so we follow,
// roughly, how tiktoken splits text before merging: a word is usually one token,
// a number one per three digits, a run of punctuation or a line break about one.
// The weights are a least-squares fit on ~1,100 samples (this repository,
// node_modules docs and code, 30 texts in 20 languages); other scripts are
// counted per character. The range held the exact count for 99.7% of 600-char
// and 99.9% of 6,000-char samples; what fell outside was base64 of binary data
// (zero runs merge far more) and regex-dense code. Crafted text can fall outside
// on purpose (random letters cost ~2.5× a word): only the UTF-8 length is a hard
// ceiling. scripts/bench-tokens.ts prints how the estimate does.

/** Sums over the texts of one prompt. */
interface Tally {
  /** Cost of the ASCII/Latin runs, the same for both encodings. */
  base: number
  /** lower→Upper inside a word (camelCase): o200k's pattern splits there, cl100k's merges less. */
  humps: number
  /** Chars in base64-like (both cases) and hex-like runs, far denser than words. */
  blobCased: number
  blobPlain: number
  letters: number
  /** Letters with accents: a sign of a language other than English, whose words split more. */
  latin: number
  cjk: number
  cyrillic: number
  other: number
  symbols: number
  astral: number
  /** UTF-8 length: a hard ceiling, every token being at least one byte. */
  bytes: number
}

const WORD = 1
const LONG_WORD = 0.12 // per letter past 8
const DIGITS = 1.22 // per group of three
const PUNCT = 0.67
const PUNCT_MORE = 0.3 // per char past 2: regexes, globs
const BREAK = 1.69 // whitespace with a line break
const GAP = 1.7 // two or more spaces or tabs
const BLOB_MIN = 24 // letters and digits without a break: base64, hex, keys

type Range = readonly [low: number, tokens: number, high: number]
interface Rates {
  hump: number
  blobCased: number
  blobPlain: number
  /** Multipliers on the ASCII/Latin cost: English and code, and other Latin-script languages. */
  base: Range
  foreign: Range
  /** Per character. */
  cjk: Range
  cyrillic: Range
  other: Range
  symbols: Range
  astral: Range
}

const RATES: Record<Encoding, Rates> = {
  cl100k_base: {
    hump: 0.54,
    blobCased: 0.72,
    blobPlain: 0.56,
    base: [0.75, 1, 1.35],
    foreign: [0.75, 1.8, 2.6],
    cjk: [0.85, 1.12, 1.5],
    cyrillic: [0.3, 0.5, 0.9],
    other: [0.7, 1.1, 1.8],
    symbols: [0.4, 1, 2],
    astral: [1, 2.5, 4],
  },
  o200k_base: {
    hump: 0.75,
    blobCased: 0.69,
    blobPlain: 0.56,
    base: [0.75, 1, 1.35],
    foreign: [0.75, 1.35, 2.1],
    cjk: [0.5, 0.72, 1.1],
    cyrillic: [0.15, 0.26, 0.5],
    other: [0.2, 0.35, 0.6],
    symbols: [0.4, 1, 2],
    astral: [0.8, 1.6, 4],
  },
}

const LETTER = 1
const DIGIT = 2
const MARK = 3
const SPACE = 4
const WIDE = 5

const emptyTally = (): Tally => ({ base: 0, humps: 0, blobCased: 0, blobPlain: 0, letters: 0, latin: 0, cjk: 0, cyrillic: 0, other: 0, symbols: 0, astral: 0, bytes: 0 })

// System prompts and tool definitions come back on every request: their
// tallies are kept (long texts only, bounded), the rest is scanned afresh.
const TALLY_CACHE_MIN = 256
const TALLY_CACHE_MAX = 2000
const tallies = new Lru<Tally>(TALLY_CACHE_MAX)

function tally(texts: readonly string[]): Tally {
  const t = emptyTally()
  for (const s of texts) {
    if (s.length < TALLY_CACHE_MIN) {
      scan(s, t)
      continue
    }
    let one = tallies.get(s)
    if (!one) {
      scan(s, (one = emptyTally()))
      tallies.set(s, one)
    }
    for (const k in one) t[k as keyof Tally] += one[k as keyof Tally]
  }
  return t
}

/** Cost of one finished run of ASCII/Latin chars. */
function runCost(kind: number, run: number, lineBreak: boolean): number {
  // Long runs of one character (rules, padding) still cost a token per 16–128 chars.
  if (kind === LETTER) return WORD + (run > 8 ? (run - 8) * LONG_WORD : 0)
  if (kind === DIGIT) return DIGITS * Math.ceil(run / 3)
  if (kind === MARK) return PUNCT + (run > 2 ? (Math.min(run, 16) - 2) * PUNCT_MORE : 0) + (run > 16 ? (run - 16) / 16 : 0)
  if (kind === SPACE) return (lineBreak ? BREAK : run > 1 ? GAP : 0) + (run > 32 ? (run - 32) / (lineBreak ? 32 : 128) : 0)
  return 0
}

// One pass, locals only (closures over mutable state made it several times slower).
function scan(s: string, t: Tally): void {
  let base = 0
  let humps = 0
  let bytes = 0
  let letters = 0
  let latin = 0
  let cjk = 0
  let cyrillic = 0
  let other = 0
  let symbols = 0
  let astral = 0
  let blobCased = 0
  let blobPlain = 0
  let kind = 0
  let run = 0
  let lineBreak = false
  let lower = false
  // A run of [A-Za-z0-9+/=]; when it turns out to be a blob, its word costs are replaced.
  let blob = 0
  let blobDigits = 0
  let blobUpper = 0
  let blobLower = 0
  let blobSlashes = 0
  let savedBase = 0
  let savedHumps = 0

  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : -1 // -1: the end, closing what is open
    let k = 0
    let inBlob = false
    if (c < 0) {
      // nothing to count
    } else if (c < 0x80) {
      bytes++
      if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) {
        k = LETTER
        inBlob = true
        letters++
        const up = c <= 90
        if (up && lower) humps++
        lower = !up
        if (up) blobUpper++
        else blobLower++
      } else {
        lower = false
        if (c >= 48 && c <= 57) {
          k = DIGIT
          inBlob = true
          blobDigits++
        } else if (c === 32 || (c >= 9 && c <= 13)) k = SPACE
        else {
          k = MARK
          inBlob = c === 43 || c === 47 || c === 61
          if (c === 43 || c === 47) blobSlashes++
        }
      }
    } else {
      lower = false
      bytes += c < 0x800 ? 2 : 3
      if ((c >= 0xc0 && c <= 0x24f && c !== 0xd7 && c !== 0xf7) || (c >= 0x1e00 && c <= 0x1eff)) {
        k = LETTER
        letters++
        latin++
      } else {
        k = WIDE
        const next = s.charCodeAt(i + 1)
        if (c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          astral++
          bytes++ // 4 for the pair
          i++
        } else if ((c >= 0x2e80 && c <= 0x9fff) || (c >= 0xac00 && c <= 0xd7af) || (c >= 0xf900 && c <= 0xfaff) || (c >= 0xff00 && c <= 0xffef)) cjk++
        else if (c >= 0x400 && c <= 0x52f) cyrillic++
        else if (c < 0xc0 || (c >= 0x2000 && c <= 0x2bff) || (c >= 0xfe00 && c <= 0xfe0f) || (c >= 0xd800 && c <= 0xdfff)) symbols++
        else other++
      }
    }
    if (blob && !inBlob) {
      if (blob >= BLOB_MIN && blobDigits && blobUpper + blobLower && blobSlashes * 10 <= blob) {
        base = savedBase
        humps = savedHumps
        if (blobUpper && blobLower) blobCased += blob
        else blobPlain += blob
        kind = 0 // the open run was part of the blob
      }
      blob = blobDigits = blobUpper = blobLower = blobSlashes = 0
    }
    if (k !== kind) {
      base += runCost(kind, run, lineBreak)
      kind = k
      run = 0
      lineBreak = false
    }
    if (inBlob) {
      if (!blob) {
        savedBase = base
        savedHumps = humps
      }
      blob++
    }
    run++
    if (c === 10 || c === 13) lineBreak = true
  }
  t.base += base
  t.humps += humps
  t.bytes += bytes
  t.letters += letters
  t.latin += latin
  t.cjk += cjk
  t.cyrillic += cyrillic
  t.other += other
  t.symbols += symbols
  t.astral += astral
  t.blobCased += blobCased
  t.blobPlain += blobPlain
}

function rate(p: Prompt, t: Tally, enc: Encoding): Estimate {
  const r = RATES[enc]
  const fixed = fixedTokens(p, enc)
  const base = t.base + t.humps * r.hump + t.blobCased * r.blobCased + t.blobPlain * r.blobPlain
  // French, German, Polish... split into more tokens per word than English; 2% of
  // letters with accents reads as wholly foreign, fewer as a mix.
  const f = t.letters ? Math.min(1, (t.latin * 50) / t.letters) : 0
  const sum = (i: 0 | 1 | 2) =>
    base * (r.base[i] + f * (r.foreign[i] - r.base[i])) + t.cjk * r.cjk[i] + t.cyrillic * r.cyrillic[i] + t.other * r.other[i] + t.symbols * r.symbols[i] + t.astral * r.astral[i]
  const high = Math.min(sum(2), t.bytes)
  const low = Math.min(sum(0), high)
  const tokens = Math.min(Math.max(sum(1), low), high)
  return {
    tokens: Math.round(fixed + tokens + p.images * IMAGE.tokens),
    low: Math.max(0, Math.floor(fixed + low + p.images * IMAGE.low)),
    high: Math.ceil(fixed + high + p.images * IMAGE.high),
  }
}

function estimate(p: Prompt, model: string | undefined, fallback: unknown): Estimate {
  const t = tally(p.texts)
  if (model !== undefined) return rate(p, t, encodingFor(model))
  // No model: a range that holds for both encodings, centred on the requested model's.
  const cl = rate(p, t, 'cl100k_base')
  const o2 = rate(p, t, 'o200k_base')
  const own = typeof fallback === 'string' && encodingFor(fallback) === 'o200k_base' ? o2 : cl
  return { tokens: own.tokens, low: Math.min(cl.low, o2.low), high: Math.max(cl.high, o2.high) }
}

/**
 * No encoder: a range certain enough to decide far-from-threshold cases (about
 * ±25–35% on English and code, wider for other languages; see the notes above).
 * Without `model` the range covers both encodings and `tokens` follows `body.model`.
 */
export function estimatePromptTokens(body: Record<string, unknown>, model?: string): Estimate {
  return estimate(readPrompt(body), model, isObj(body) ? body.model : undefined)
}

/** The same for a bare text (no message wrapping). */
export function estimateTextTokens(text: string, model?: string): Estimate {
  return estimate(readPrompt({ prompt: text }), model, undefined)
}

// -- Exact ---------------------------------------------------------------------

// Counts per text, so a system prompt, tool list or earlier turn that comes back
// is encoded once. Short texts are cheaper to count than to keep, and the last
// message is new: kept, it would only push out what does come back, and a kept
// string lives long enough to cost the old generation's collector.
const CACHE_MIN_CHARS = 64
/** What one text costs to count at the least, in characters' worth of work (a lookup, a generator). */
const TEXT_WORK = 64
const caches = new Map<Encoding, Lru<number>>()

function cacheOf(enc: Encoding): Lru<number> {
  let c = caches.get(enc)
  if (!c) caches.set(enc, (c = new Lru(1000, 4_000_000)))
  return c
}

/** The prompt's count in steps of bounded work (see Encoder.steps). */
function* countSteps(e: Encoder | undefined, p: Prompt, enc: Encoding): Generator<void, number, void> {
  let n = fixedTokens(p, enc) + p.images * IMAGE.tokens
  // A step ends inside a long text, and after a step's worth of short ones: 100,000 messages
  // of a few words each held the loop for a second, never reaching a step's end.
  let since = 0
  for (let i = 0; i < p.texts.length; i++) {
    if (since >= STEP) {
      since = 0
      yield
    }
    const s = p.texts[i]!
    since += Math.max(s.length, TEXT_WORK)
    const keep = s.length >= CACHE_MIN_CHARS && !(i >= p.newFrom && i < p.newTo)
    const known = keep ? cacheOf(enc).get(s) : undefined
    if (known !== undefined) {
      n += known
      continue
    }
    const k = yield* e!.steps(s)
    if (keep && s.length <= 500_000) cacheOf(enc).set(s, k)
    n += k
  }
  return n
}

// No request may hold the event loop for long: counting runs in slices of a
// few ms (and at most SLICE_STEPS steps, for runtimes whose clock stands still
// while code runs), and a count that needs more than one slice goes on in
// later macrotasks, between other requests. Most prompts fit in one: no promise.
const SLICE_MS = 10
const SLICE_STEPS = 8

/** Runs one slice of steps: the count if they finished in it. */
function slice(g: Generator<void, number, void>): number | undefined {
  const t0 = performance.now()
  for (let i = 0; i < SLICE_STEPS; i++) {
    const r = g.next()
    if (r.done) return r.value
    if (performance.now() - t0 >= SLICE_MS) return undefined
  }
  return undefined
}

const macrotask = () => new Promise<void>((resolve) => setTimeout(resolve, 0))

function sliced(g: Generator<void, number, void>): number | Promise<number> {
  const n = slice(g)
  if (n !== undefined) return n
  return (async () => {
    for (;;) {
      await macrotask()
      const m = slice(g)
      if (m !== undefined) return m
    }
  })()
}

async function count(p: Prompt, model: string): Promise<number> {
  const enc = encodingFor(model)
  // Nothing to encode: no encoder.
  return sliced(countSteps(p.texts.length ? await loadEncoder(enc) : undefined, p, enc))
}

/**
 * The prompt's tokens for a token-limit reservation: js-tiktoken's count for the
 * model's encoding. Synchronous once the encoder is built and the prompt takes
 * one slice (the hot path makes no promise then); the first caller waits for the
 * encoder (0.2–0.4 s, once per gateway or isolate), and a huge prompt is counted
 * over several macrotasks. Should the encoder fail to load, the estimate stands in.
 */
export function reservePromptTokens(body: Record<string, unknown>, model: string): number | Promise<number> {
  const p = readPrompt(body)
  const enc = encodingFor(model)
  const e = readyEncoder(enc)
  if (e || !p.texts.length) return sliced(countSteps(e, p, enc))
  return count(p, model).catch(() => estimate(p, model, undefined).tokens)
}

/**
 * Exact for the model's encoding (cookbook message wrapping, tools by the cookbook's
 * formula, images at a nominal size); loads the encoder on first use.
 */
export function countPromptTokens(body: Record<string, unknown>, model: string): Promise<number> {
  return count(readPrompt(body), model)
}

export function countTextTokens(text: string, model: string): Promise<number> {
  return count(readPrompt({ prompt: text }), model)
}

/**
 * Whether `min <= tokens <= max` (each bound optional). The estimate decides when its
 * range is clear of both bounds; otherwise the prompt is counted. Should the encoder
 * fail to load, the estimate's `tokens` decides.
 */
export async function promptTokensWithin(body: Record<string, unknown>, model: string, min?: number, max?: number): Promise<boolean> {
  const lo = min ?? -Infinity
  const hi = max ?? Infinity
  if (lo === -Infinity && hi === Infinity) return true
  const p = readPrompt(body)
  const e = estimate(p, model, undefined)
  if (e.high < lo || e.low > hi) return false
  if (e.low >= lo && e.high <= hi) return true
  const n = await count(p, model).catch(() => e.tokens)
  return n >= lo && n <= hi
}
