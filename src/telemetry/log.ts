// Structured log records. Each runtime decides where lines go; the core only
// builds records, and never puts a key or a prompt in one.
export interface Logger {
  /** One record per line (access log, cost records). */
  record(rec: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

export const consoleLogger: Logger = {
  record: (rec) => console.log(JSON.stringify(rec)),
  warn: (message, fields) => console.warn(JSON.stringify({ level: 'warn', message, ...fields })),
  error: (message, fields) => console.error(JSON.stringify({ level: 'error', message, ...fields })),
}

export const silentLogger: Logger = { record() {}, warn() {}, error() {} }
