// The StateStore on Durable Objects, reachable from Node: one workerd
// (miniflare) runs the store driver Worker; each `store(prefix)` is a
// DurableObjectStore over fresh objects (their names start with `prefix`),
// spread over `shards` objects so multi-object admissions are exercised.
// Their clock is pinned by the test (setClock), so no test depends on how
// fast a call is.
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Miniflare } from 'miniflare'
import type { StateStore } from '../../src/state/store.ts'
import { COMPATIBILITY_DATE, buildStoreDriver } from './cloudflare-harness.ts'

export interface DoStores {
  store(prefix: string, shards?: number): StateStore
  /** Pins the clock of every object of `prefix` to `ms` (epoch). */
  setClock(prefix: string, ms: number, shards?: number): Promise<void>
  close(): Promise<void>
}

export async function startDoStores(): Promise<DoStores> {
  const dir = await mkdtemp(join(tmpdir(), 'kortex-do-store-'))
  const shm = existsSync('/dev/shm') ? await mkdtemp('/dev/shm/kortex-do-') : dir
  const scriptPath = await buildStoreDriver(dir)
  const mf = new Miniflare({
    modules: true,
    scriptPath,
    modulesRoot: dir,
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: { KORTEX_TEST_CLOCK: '1' },
    host: '127.0.0.1',
    port: 0,
    // The objects' SQLite files on tmpfs when there is one: these tests are about behaviour, and a disk shared with other work makes writes slow.
    ...(existsSync('/dev/shm') ? { durableObjectsPersist: join(shm, 'do') } : {}),
    durableObjects: { KORTEX_STATE: { className: 'KortexState', useSQLite: true } },
  })
  // Straight to workerd's own HTTP port: dispatchFetch adds a hop through Node (~10 ms a call here).
  const url = (await mf.ready).href
  const call = async (shards: number, prefix: string, op: string, args: unknown[]) => {
    const res = await fetch(url, { method: 'POST', body: JSON.stringify({ op, args, shards, prefix }) })
    const text = await res.text()
    if (res.status !== 200) throw new Error(`DO store ${op}: HTTP ${res.status}: ${text}`)
    return (JSON.parse(text, (_k, v) => (v === '∞' ? Infinity : v)) as { out: unknown }).out
  }
  return {
    store(prefix, shards = 4) {
      const c = (op: string) => (...args: unknown[]) => call(shards, prefix, op, args)
      return { admit: c('admit'), settle: c('settle'), counters: c('counters'), addFields: c('addFields'), readFields: c('readFields'), put: c('put'), get: c('get') } as StateStore
    },
    setClock: async (prefix, ms, shards = 4) => void (await call(shards, prefix, 'setClock', [ms])),
    close: async () => {
      await mf.dispose()
      await rm(dir, { recursive: true, force: true })
      await rm(shm, { recursive: true, force: true })
    },
  }
}
