// A config file, watched. Every change is loaded and compiled off to the
// side; only a config that passes whole replaces the running one.
import { readFile } from 'node:fs/promises'
import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import { buildConfig } from '../../src/config/source.ts'
import type { CompiledConfig } from '../../src/config/compile.ts'

export interface WatchedConfig {
  current(): CompiledConfig
  close(): void
}

const envSecrets = (name: string) => process.env[name]

export async function loadConfigFile(path: string): Promise<CompiledConfig> {
  const text = await readFile(path, 'utf8')
  return buildConfig(text, envSecrets, path)
}

export async function watchConfigFile(
  path: string,
  events: { loaded(c: CompiledConfig): void; refused(err: unknown): void },
): Promise<WatchedConfig> {
  const file = resolve(path)
  let config = await loadConfigFile(file)
  let timer: NodeJS.Timeout | undefined
  let lastText = ''
  const reload = async () => {
    try {
      const text = await readFile(file, 'utf8')
      if (text === lastText) return // editors fire several events per save
      lastText = text
      const next = await buildConfig(text, envSecrets, file)
      config = next // one assignment: a request sees the old config or the new, never half of each
      events.loaded(next)
    } catch (err) {
      events.refused(err)
    }
  }
  lastText = await readFile(file, 'utf8')
  // Watch the directory: editors that save by rename replace the file's inode.
  let watcher: FSWatcher | undefined = watch(dirname(file), (_event, name) => {
    if (name && name !== basename(file)) return
    clearTimeout(timer)
    timer = setTimeout(reload, 50)
  })
  return {
    current: () => config,
    close: () => {
      clearTimeout(timer)
      watcher?.close()
      watcher = undefined
    },
  }
}
