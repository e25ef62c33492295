// The Node server's own refusals — a request line or headers it cannot
// parse, headers too large, a request not received in time, a gateway that
// failed — in the same OpenAI-shaped JSON as the gateway's, so a client
// reads every error Kortex returns alike. Node's defaults are bare text.
import { STATUS_CODES, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { GatewayError, type ErrorType } from '../../src/api/errors.ts'

// After a refusal the connection closes; a client that does not close its side is cut after this.
const LINGER_MS = 1000

export function errorJson(status: number, message: string, code: string, type: ErrorType = 'invalid_request_error'): string {
  return JSON.stringify(new GatewayError(status, message, type, code).body())
}

/** Where the server's own refusals go: the gateway's access log and metrics (RunningGateway.refused). */
export type RefusalNote = (status: number, code: string, message: string) => void

/** Writes an error on a ServerResponse whose head is not sent yet, and closes the connection after it. */
export function refuse(out: ServerResponse, status: number, message: string, code: string, type?: ErrorType): void {
  const body = errorJson(status, message, code, type)
  if (!out.headersSent) out.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' })
  out.end(body)
}

/** What the parser or the server's deadlines refused, by error code; undefined: the socket failed, nobody to answer. */
function refusalOf(code: string | undefined): [number, string, string] | undefined {
  if (code === 'HPE_HEADER_OVERFLOW') return [431, 'The request headers are larger than the server accepts.', 'request_header_fields_too_large']
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return [413, 'The chunk extensions of the request body are larger than the server accepts.', 'request_too_large']
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'The request was not received in time; the connection is closed.', 'request_timeout']
  if (code?.startsWith('HPE_')) return [400, 'The server could not parse the request: a malformed request line, header or body framing.', 'malformed_request']
  return undefined
}

/**
 * The server's `clientError` listener. Answers when the socket can still take
 * an answer (no response of its own under way), and destroys it otherwise.
 */
export function onClientError(err: Error & { code?: string }, socket: Duplex, note?: RefusalNote): void {
  const r = refusalOf(err.code)
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage
  if (!r || !socket.writable || inFlight?.headersSent) {
    socket.destroy()
    return
  }
  const [status, message, code] = r
  note?.(status, code, message)
  const body = errorJson(status, message, code)
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
  // Not destroyed at once: a reset could reach the client before the answer does.
  setTimeout(() => socket.destroy(), LINGER_MS).unref()
}
