// The Node logger: records (access log, cost records) go to stdout one JSON
// object per line, as consoleLogger writes them, but gathered into one write
// per turn of the event loop. On Linux a write to a pipe or file is a
// synchronous syscall; one per record cost ~5% of a proxied request's CPU.
// Warnings and errors still go straight to stderr.
import { writeSync } from 'node:fs'
import { consoleLogger, type Logger } from '../../src/telemetry/log.ts'

/** Flush a batch once it reaches this size, without waiting for the turn to end. */
const MAX_BATCH = 64 * 1024

export function stdoutLogger(): Logger {
  let pending = ''
  let scheduled = false
  const flush = () => {
    scheduled = false
    if (!pending) return
    const lines = pending
    pending = ''
    process.stdout.write(lines)
  }
  // Whatever is still gathered when the process exits is written synchronously.
  process.once('exit', () => {
    if (!pending) return
    try {
      writeSync(process.stdout.fd, pending)
    } catch {
      // stdout is gone; nothing to tell
    }
    pending = ''
  })
  return {
    record(rec) {
      pending += JSON.stringify(rec) + '\n'
      if (pending.length >= MAX_BATCH) flush()
      else if (!scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    },
    warn: consoleLogger.warn,
    error: consoleLogger.error,
  }
}
