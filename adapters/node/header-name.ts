// A header name as Headers takes it: converted to a string, checked to be an
// HTTP token, lowercased. The request and response sides both use it; the
// names asked for are a few constants, so each is checked and lowercased once.
const TOKEN = /^[!#$%&'*+\-.^_`|~\dA-Za-z]+$/
const KNOWN_MAX = 256
const known = new Map<unknown, string>()

export function headerName(name: string): string {
  const hit = known.get(name)
  if (hit !== undefined) return hit
  const s = String(name)
  if (!TOKEN.test(s)) throw new TypeError(`Headers: invalid header name: ${s}`)
  const k = s.toLowerCase()
  if (known.size >= KNOWN_MAX) known.clear()
  known.set(name, k)
  return k
}
