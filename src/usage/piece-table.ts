// The pieces a tokenizer met lately, with their token counts, looked up by
// the characters where they stand in the text: a piece already here costs a
// hash and a compare, with no substring made (a prompt has a piece every ~4
// characters, and the substrings were most of the encoder's garbage). Open
// addressing over typed arrays; cleared when half full, so what stays is
// what is common now.
const SLOTS = 8192
const MASK = SLOTS - 1

/** FNV-1a over text[start, end). */
export function hashOf(text: string, start: number, end: number): number {
  let h = 0x811c9dc5
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h
}

export class PieceTable {
  readonly #keys: string[] = new Array<string>(SLOTS).fill('')
  readonly #hashes = new Int32Array(SLOTS)
  readonly #counts = new Int32Array(SLOTS)
  #size = 0

  /** The count for text[start, end) (hash `h`), or -1. */
  find(text: string, start: number, end: number, h: number): number {
    const len = end - start
    for (let i = h & MASK; ; i = (i + 1) & MASK) {
      const k = this.#keys[i]!
      if (k.length === 0) return -1
      if (this.#hashes[i] === h && k.length === len && same(k, text, start)) return this.#counts[i]!
    }
  }

  add(piece: string, h: number, count: number): void {
    if (this.#size >= SLOTS / 2) {
      this.#keys.fill('')
      this.#size = 0
    }
    let i = h & MASK
    while (this.#keys[i]!.length !== 0) i = (i + 1) & MASK
    this.#keys[i] = piece
    this.#hashes[i] = h
    this.#counts[i] = count
    this.#size++
  }
}

function same(k: string, text: string, start: number): boolean {
  for (let j = 0; j < k.length; j++) if (k.charCodeAt(j) !== text.charCodeAt(start + j)) return false
  return true
}
