// Secrets out of everything the gateway says. An upstream may echo our
// credentials back (its error message quotes the header it refused, a proxy
// dumps the request): every error body, stream error event and log line
// goes through one scrubber that knows every secret of the config in force.
// It is used on error paths only; a request that succeeds never pays for it.

/** Values shorter than this are not credentials, and replacing them would mangle messages. */
const MIN_SECRET = 8
const MASK = '***'

export class Scrubber {
  #values: string[] | undefined

  /** `values` is read on the first scrub, not before: most configs never need it. */
  constructor(private readonly values: () => Iterable<string | undefined>) {}

  #list(): string[] {
    if (this.#values) return this.#values
    const out = new Set<string>()
    for (const v of this.values()) {
      if (!v || v.length < MIN_SECRET) continue
      // As it is, and as it looks inside JSON text or a URL (a raw SSE block, an echoed query).
      out.add(v)
      out.add(JSON.stringify(v).slice(1, -1))
      out.add(encodeURIComponent(v))
    }
    // Longest first: a secret that contains another is masked whole.
    return (this.#values = [...out].sort((a, b) => b.length - a.length))
  }

  scrub(s: string): string {
    for (const v of this.#list()) if (s.includes(v)) s = s.split(v).join(MASK)
    return s
  }

  /** Log fields with every string in them scrubbed (nested ones too). */
  fields(o: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(o)) out[k] = this.value(v)
    return out
  }

  value(v: unknown): unknown {
    if (typeof v === 'string') return this.scrub(v)
    if (v === null || typeof v !== 'object') return v
    const text = JSON.stringify(v)
    const clean = this.scrub(text)
    return clean === text ? v : JSON.parse(clean)
  }
}

/** A scrubber that knows nothing: for callers that have no config. */
export const noScrubber = new Scrubber(() => [])
