// Mistral accepts only tool call ids of 9 letters and digits; OpenAI's
// ("call_...") and Anthropic's ("toolu_...") ids in a conversation's history
// are refused. Ids that do not fit are replaced by one derived from them
// (the same id always becomes the same replacement, in this request and the
// next), and replacements found in the answer are turned back.

const FITS = /^[a-zA-Z0-9]{9}$/
const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
const enc = new TextEncoder()

export class ToolIds {
  /** Client id -> id sent to Mistral. */
  private toMistral = new Map<string, string>()
  /** Id sent to Mistral -> client id. */
  private toClient = new Map<string, string>()

  get mapped(): boolean {
    return this.toMistral.size > 0
  }

  /** Prepare replacements for every id that does not fit (digests are async on Web Crypto). */
  async learn(ids: Iterable<string>): Promise<void> {
    for (const id of ids) {
      if (FITS.test(id) || this.toMistral.has(id)) continue
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(id)))
      let out = ''
      for (let i = 0; i < 9; i++) out += ALPHABET[digest[i]! % ALPHABET.length]
      this.toMistral.set(id, out)
      this.toClient.set(out, id)
    }
  }

  out(id: string): string {
    return this.toMistral.get(id) ?? id
  }

  back(id: string): string {
    return this.toClient.get(id) ?? id
  }
}
