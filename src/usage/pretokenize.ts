// The tiktoken pretokenizers' split, by hand, for ASCII text. V8 runs the
// encodings' Unicode regexes at ~250 ns a piece; this scan takes a few ns a
// character. It answers only where every character it looks at (the piece
// and the one after it) is ASCII, and returns -1 elsewhere so the regex
// decides. The cases follow the patterns' alternatives in order:
//
// cl100k: 's|'t|'re|'ve|'m|'ll|'d (any case) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3}
//         | ' '?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
// o200k:  [^\r\n\p{L}\p{N}]?(upper* lower+ | upper+ lower*)(contraction)? | \p{N}{1,3}
//         | ' '?[^\s\p{L}\p{N}]+[\r\n/]* | the same three for whitespace
// Checked against the regexes piece by piece in test/usage/tokens.test.ts.

export type Split = 'cl100k' | 'o200k'

const LOWER = 1
const UPPER = 2
const DIGIT = 3
const BREAK = 4 // \r \n
const SPACE = 5 // \t \v \f and ' ' (JS \s in ASCII, besides \r \n)
const OTHER = 6 // punctuation and control characters: [^\s\p{L}\p{N}]
const WIDE = 0 // not ASCII: the regex decides

const CLASS = new Uint8Array(128).fill(OTHER)
for (let c = 97; c <= 122; c++) CLASS[c] = LOWER
for (let c = 65; c <= 90; c++) CLASS[c] = UPPER
for (let c = 48; c <= 57; c++) CLASS[c] = DIGIT
CLASS[10] = CLASS[13] = BREAK
CLASS[9] = CLASS[11] = CLASS[12] = CLASS[32] = SPACE

/** The class of the character at `i`; BREAK past the end is never asked for (callers check). */
const at = (s: string, i: number) => {
  const c = s.charCodeAt(i)
  return c < 128 ? CLASS[c]! : WIDE
}

const isLetter = (k: number) => k === LOWER || k === UPPER

/** Length of a contraction ('s 't 're 've 'm 'll 'd, any case) at i, else 0. */
function contraction(s: string, i: number): number {
  if (s.charCodeAt(i) !== 39) return 0
  const a = s.charCodeAt(i + 1) | 32
  if (a === 115 || a === 116 || a === 109 || a === 100) return 2 // s t m d
  const b = s.charCodeAt(i + 2) | 32
  if ((a === 114 || a === 118) && b === 101) return 3 // re ve
  if (a === 108 && b === 108) return 3 // ll
  return 0
}

/** End of the piece starting at `i` (i < s.length), or -1 when the regex must decide. */
export function pieceEnd(split: Split, s: string, i: number): number {
  const n = s.length
  // Most pieces of prose are a space and a lowercase word, or a lowercase word: the same
  // in both splits when what follows is ASCII and neither an uppercase letter nor an apostrophe.
  {
    let e = s.charCodeAt(i) === 32 ? i + 1 : i
    const from = e
    for (; e < n; e++) {
      const k = s.charCodeAt(e)
      if (k < 97 || k > 122) break
    }
    if (e > from) {
      if (e === n) return e
      const k = s.charCodeAt(e)
      if (k < 128 && (k < 65 || k > 90) && k !== 39) return e
    }
  }
  const c = at(s, i)
  if (c === WIDE) return -1
  if (split === 'cl100k' && c === OTHER) {
    const k = contraction(s, i)
    if (k) return i + k
  }
  let j = i
  // An optional lead-in (not a break, letter or digit) before a word.
  if ((c === SPACE || c === OTHER) && i + 1 < n) {
    const d = at(s, i + 1)
    if (d === WIDE) return -1
    if (isLetter(d)) j = i + 1
  }
  const w = j < n ? at(s, j) : OTHER
  if (isLetter(w)) return split === 'cl100k' ? letters(s, j) : casedWord(s, j)
  if (c === DIGIT) {
    let e = i + 1
    while (e < n && e < i + 3 && at(s, e) === DIGIT) e++
    if (e < i + 3 && e < n && at(s, e) === WIDE) return -1
    return e
  }
  // ' '?[^\s\p{L}\p{N}]+, then [\r\n]* (o200k: [\r\n/]*).
  const p = c === SPACE && s.charCodeAt(i) === 32 && i + 1 < n ? i + 1 : i
  if (at(s, p) === OTHER) {
    let e = p + 1
    for (; e < n; e++) {
      const k = at(s, e)
      if (k === WIDE) return -1
      if (k !== OTHER) break
    }
    // Then breaks, and for o200k slashes among them ("()\n//").
    for (; e < n; e++) {
      const k = at(s, e)
      if (k !== BREAK && !(split === 'o200k' && s.charCodeAt(e) === 47)) break
    }
    return e
  }
  if (c !== SPACE && c !== BREAK) return -1
  // Whitespace: through the last break of the run; else the run less its last
  // character when something follows it (\s+(?!\S)); else the run.
  let e = i
  let lastBreak = -1
  for (; e < n; e++) {
    const k = at(s, e)
    if (k === WIDE) return -1
    if (k === BREAK) lastBreak = e
    else if (k !== SPACE) break
  }
  if (lastBreak >= 0) return lastBreak + 1
  return e < n && e - i > 1 ? e - 1 : e
}

/** cl100k: \p{L}+ from j. */
function letters(s: string, j: number): number {
  const n = s.length
  let e = j
  for (; e < n; e++) {
    const k = at(s, e)
    if (k === WIDE) return -1
    if (!isLetter(k)) break
  }
  return e
}

/** o200k: upper* lower+ or upper+ lower*, then an optional contraction. */
function casedWord(s: string, j: number): number {
  const n = s.length
  let e = j
  while (e < n && at(s, e) === UPPER) e++
  while (e < n && at(s, e) === LOWER) e++
  if (e < n && at(s, e) === WIDE) return -1
  return e + (e < n ? contraction(s, e) : 0)
}
