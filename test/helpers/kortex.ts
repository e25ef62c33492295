// Starts a real Kortex Node server on a config written to a temp file, with
// its log records captured so tests can read what an operator would see.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startKortex, type Kortex } from '../../adapters/node/start.ts'

export interface TestKortex extends Kortex {
  records: Record<string, unknown>[]
  logText: () => string
  notices: string[]
  configFile: string
}

export async function startTestKortex(yaml?: string): Promise<TestKortex> {
  const records: Record<string, unknown>[] = []
  const lines: string[] = []
  const notices: string[] = []
  let configFile = ''
  if (yaml !== undefined) {
    configFile = join(mkdtempSync(join(tmpdir(), 'kortex-')), 'kortex.yaml')
    writeFileSync(configFile, yaml)
  }
  const k = await startKortex({
    configPath: configFile || undefined,
    port: 0,
    notice: (l) => notices.push(l),
    log: {
      record: (r) => (records.push(r), lines.push(JSON.stringify(r))),
      warn: (m, f) => lines.push(JSON.stringify({ m, ...f })),
      error: (m, f) => lines.push(JSON.stringify({ m, ...f })),
    },
  })
  return Object.assign(k, { records, notices, configFile, logText: () => lines.join('\n') + notices.join('\n') })
}

/** Waits for `check` to hold, polling; for effects that land after a response. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}
