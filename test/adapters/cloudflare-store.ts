// The StateStore on Durable Objects, reachable from Node: one workerd
// (miniflare) runs the store driver Worker; each `store(prefix)` is a
// DurableObjectStore over fresh objects (their names start with `prefix`),
// spread over `shards` objects so multi-object admissions are exercised.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Miniflare } from 'miniflare'
import type { StateStore } from '../../src/state/store.ts'
import { COMPATIBILITY_DATE, buildStoreDriver } from './cloudflare-harness.ts'

export interface DoStores {
  store(prefix: string, shards?: number): StateStore
  close(): Promise<void>
}

export async function startDoStores(): Promise<DoStores> {
  const dir = await mkdtemp(join(tmpdir(), 'kortex-do-store-'))
  const scriptPath = await buildStoreDriver(dir)
  const mf = new Miniflare({
    modules: true,
    scriptPath,
    modulesRoot: dir,
    compatibilityDate: COMPATIBILITY_DATE,
    durableObjects: { KORTEX_STATE: { className: 'KortexState', useSQLite: true } },
  })
  await mf.ready
  const call = async (shards: number, prefix: string, op: string, args: unknown[]) => {
    const res = await mf.dispatchFetch('http://driver/', { method: 'POST', body: JSON.stringify({ op, args, shards, prefix }) })
    const text = await res.text()
    if (res.status !== 200) throw new Error(`DO store ${op}: HTTP ${res.status}: ${text}`)
    return (JSON.parse(text, (_k, v) => (v === '∞' ? Infinity : v)) as { out: unknown }).out
  }
  return {
    store(prefix, shards = 4) {
      const c = (op: string) => (...args: unknown[]) => call(shards, prefix, op, args)
      return { admit: c('admit'), settle: c('settle'), counters: c('counters'), addFields: c('addFields'), readFields: c('readFields'), put: c('put'), get: c('get') } as StateStore
    },
    close: async () => {
      await mf.dispose()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
