// A config file, watched. Every change is loaded and compiled off to the
// side; only a config that passes whole replaces the running one. A file is
// applied only once two reads a moment apart agree (a writer may be halfway
// through: `cat good > k.yaml` truncates first), and never when it would
// drop every route, backend or the GatewayConfig unless it says so
// (src/config/guard.ts).
import { readFile } from 'node:fs/promises'
import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { compileConfig, type CompiledConfig } from '../../src/config/compile.ts'
import { parseConfigText } from '../../src/config/load.ts'
import { guardConfig, type ConfigShape } from '../../src/config/guard.ts'
import { recordConfigLoad } from '../../src/telemetry/metrics.ts'

export interface WatchedConfig {
  current(): CompiledConfig
  close(): void
}

export interface WatchOptions {
  /** How long a file must stay the same before it is read as whole (default 100 ms). */
  settleMs?: number
}

const envSecrets = (name: string) => process.env[name]
const SETTLE_MS = 100
// A file still changing after this many reads is refused for now; the next change event tries again.
const MAX_READS = 20

/** The file's text once two reads `settleMs` apart agree. */
export async function readSettled(read: () => Promise<string>, settleMs = SETTLE_MS): Promise<string> {
  let text = await read()
  for (let i = 1; i < MAX_READS; i++) {
    await sleep(settleMs)
    const again = await read()
    if (again === text) return text
    text = again
  }
  throw new Error(`the file kept changing for ${MAX_READS} reads ${settleMs} ms apart; not applied`)
}

async function build(text: string, file: string, running: ConfigShape | undefined): Promise<{ config: CompiledConfig; shape: ConfigShape }> {
  const docs = parseConfigText(text, file)
  const config = await compileConfig(docs, envSecrets, file)
  return { config, shape: guardConfig(running, docs.map((d) => d.resource), file) }
}

export async function loadConfigFile(path: string, o: WatchOptions = {}): Promise<CompiledConfig> {
  const text = await readSettled(() => readFile(path, 'utf8'), o.settleMs)
  return (await build(text, path, undefined)).config
}

export async function watchConfigFile(
  path: string,
  events: { loaded(c: CompiledConfig): void; refused(err: unknown): void },
  o: WatchOptions = {},
): Promise<WatchedConfig> {
  const file = resolve(path)
  const read = () => readFile(file, 'utf8')
  let lastText = await readSettled(read, o.settleMs)
  let { config, shape } = await build(lastText, file, undefined)
  recordConfigLoad('initial')
  let timer: NodeJS.Timeout | undefined
  let reloading = false
  let closed = false
  const reload = async () => {
    if (closed) return
    if (reloading) return void (timer = setTimeout(reload, 50)) // one reload at a time; look again after it
    reloading = true
    try {
      const text = await readSettled(read, o.settleMs)
      if (text === lastText) return // editors fire several events per save
      lastText = text
      const next = await build(text, file, shape)
      config = next.config // one assignment: a request sees the old config or the new, never half of each
      shape = next.shape
      recordConfigLoad('applied')
      events.loaded(next.config)
    } catch (err) {
      recordConfigLoad('refused')
      events.refused(err)
    } finally {
      reloading = false
    }
  }
  // Watch the directory: editors that save by rename replace the file's inode, and a Kubernetes
  // ConfigMap volume swaps its `..data` link (the file itself is a link through it and never changes).
  let watcher: FSWatcher | undefined = watch(dirname(file), (_event, name) => {
    if (name && name !== basename(file) && name !== '..data') return
    clearTimeout(timer)
    timer = setTimeout(reload, 50)
  })
  return {
    current: () => config,
    close: () => {
      closed = true
      clearTimeout(timer)
      watcher?.close()
      watcher = undefined
    },
  }
}
