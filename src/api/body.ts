// Reads a JSON request body within the configured size limit, without
// holding more than the limit in memory even when no length is declared.
import { GatewayError, badRequest } from './errors.ts'

const tooLarge = (max: number) =>
  new GatewayError(413, `Request body is larger than the gateway's limit of ${max} bytes`, 'invalid_request_error', 'request_too_large')

export async function readJsonBody(req: Request, max: number): Promise<unknown> {
  return (await readJson(req, max)).value
}

/** The body's text and its parsed value: the text can go upstream as it came when nothing changes it. */
export async function readJson(req: Request, max: number): Promise<{ text: string; value: unknown }> {
  const declared = Number(req.headers.get('content-length') ?? NaN)
  if (declared > max) throw tooLarge(max)
  let text: string
  if (Number.isFinite(declared)) {
    text = await req.text()
    if (text.length > max) throw tooLarge(max)
  } else {
    text = new TextDecoder().decode(await readLimited(req, max))
  }
  // /\S/ rather than trim(): trim copies the whole body when it has nothing to trim.
  if (!/\S/.test(text)) throw badRequest('The request body is empty; send a JSON object.', null, 'invalid_json')
  try {
    return { text, value: JSON.parse(text) }
  } catch {
    throw badRequest('We could not parse the JSON body of your request. Send valid JSON with Content-Type: application/json.', null, 'invalid_json')
  }
}

/** The raw body, within the limit (for pass-through routes). */
export async function readBodyBytes(req: Request, max: number): Promise<ArrayBuffer> {
  const declared = Number(req.headers.get('content-length') ?? NaN)
  if (declared > max) throw tooLarge(max)
  const bytes = await readLimited(req, max)
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
}

async function readLimited(req: Request, max: number): Promise<Uint8Array> {
  if (!req.body) return new Uint8Array()
  const reader = req.body.getReader()
  const parts: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > max) {
      reader.cancel().catch(() => {})
      throw tooLarge(max)
    }
    parts.push(value)
  }
  const all = new Uint8Array(size)
  let off = 0
  for (const p of parts) all.set(p, (off += p.byteLength) - p.byteLength)
  return all
}
