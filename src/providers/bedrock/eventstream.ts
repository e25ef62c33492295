// The AWS event-stream binary framing ConverseStream answers in, decoded as
// the bytes arrive. A message is:
//   total length (4) | headers length (4) | prelude CRC32 (4) | headers | payload | message CRC32 (4)
// all big-endian; the prelude CRC covers the first 8 bytes, the message CRC
// everything before it. A header is: name length (1), name, value type (1),
// value; Bedrock sends strings (type 7: length (2) + UTF-8).
//
// CRC32 is the common IEEE one. A table here rather than a package: the brief
// admits one new dependency (aws4fetch), and @aws-crypto/crc32 would bring
// @aws-sdk/types and tslib to Workers for these dozen lines.

const TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

export interface EventMessage {
  headers: Record<string, string | number | boolean>
  payload: Uint8Array
}

/** The framing is broken: a failed CRC, a length that cannot be, bytes cut off. */
export class EventStreamError extends Error {}

const PRELUDE = 12
/** Bedrock's messages are small; anything past this is a corrupt length, not a message to wait for. */
const MAX_MESSAGE = 16 * 1024 * 1024
const utf8 = new TextDecoder()

/** Bytes in, one EventMessage per complete message out; keeps only the message not yet complete. */
export function eventStreamDecoder(): TransformStream<Uint8Array, EventMessage> {
  let buf: Uint8Array = new Uint8Array(0)
  return new TransformStream({
    transform(chunk, ctrl) {
      buf = buf.length ? concat(buf, chunk) : chunk
      let at = 0
      while (buf.length - at >= PRELUDE) {
        const view = new DataView(buf.buffer, buf.byteOffset + at, buf.length - at)
        const total = view.getUint32(0)
        const headersLen = view.getUint32(4)
        if (crc32(buf.subarray(at, at + 8)) !== view.getUint32(8)) throw new EventStreamError('event stream prelude CRC32 mismatch')
        if (total < PRELUDE + headersLen + 4 || total > MAX_MESSAGE) throw new EventStreamError(`event stream message length ${total} is impossible`)
        if (buf.length - at < total) break
        const msg = buf.subarray(at, at + total)
        if (crc32(msg.subarray(0, total - 4)) !== view.getUint32(total - 4)) throw new EventStreamError('event stream message CRC32 mismatch')
        ctrl.enqueue({ headers: readHeaders(msg.subarray(PRELUDE, PRELUDE + headersLen)), payload: msg.slice(PRELUDE + headersLen, total - 4) })
        at += total
      }
      buf = at ? buf.slice(at) : buf
    },
    flush() {
      if (buf.length) throw new EventStreamError(`event stream cut off inside a message (${buf.length} bytes left)`)
    },
  })
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

function readHeaders(b: Uint8Array): EventMessage['headers'] {
  const view = new DataView(b.buffer, b.byteOffset, b.length)
  const out: EventMessage['headers'] = {}
  let i = 0
  try {
    while (i < b.length) {
      const nameLen = b[i]!
      const name = utf8.decode(b.subarray(i + 1, i + 1 + nameLen))
      i += 1 + nameLen
      const type = b[i++]!
      switch (type) {
        case 0: out[name] = true; break
        case 1: out[name] = false; break
        case 2: out[name] = view.getInt8(i); i += 1; break
        case 3: out[name] = view.getInt16(i); i += 2; break
        case 4: out[name] = view.getInt32(i); i += 4; break
        case 5: case 8: out[name] = Number(view.getBigInt64(i)); i += 8; break // int64, timestamp (ms)
        case 6: case 7: { // bytes, string
          const len = view.getUint16(i)
          if (type === 7) out[name] = utf8.decode(b.subarray(i + 2, i + 2 + len))
          i += 2 + len
          break
        }
        case 9: i += 16; break // uuid
        default: throw new EventStreamError(`event stream header type ${type} is unknown`)
      }
    }
  } catch (e) {
    if (e instanceof EventStreamError) throw e
    throw new EventStreamError('event stream headers are cut off')
  }
  if (i !== b.length) throw new EventStreamError('event stream headers overrun their length')
  return out
}
