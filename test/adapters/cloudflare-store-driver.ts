// A Worker for tests: drives DurableObjectStore (the client the Kortex Worker
// uses, sharding included) inside workerd, over plain HTTP, so a vitest test
// in Node can run the StateStore behaviour suite against Durable Objects.
// POST / {"op":"admit","args":[...],"shards":4,"prefix":"t1-"} -> {"out":...}
// Infinity travels as the string "∞" (JSON has no Infinity).
// {"op":"setClock","args":[ms]} pins the clock of every object of the prefix
// (the Worker is started with KORTEX_TEST_CLOCK=1), so time moves only when
// the test says.
import { DurableObjectStore, type StateNamespace } from '../../adapters/cloudflare/do-store.ts'

export { KortexState } from '../../adapters/cloudflare/state-object.ts'

const OPS = new Set(['admit', 'settle', 'counters', 'addFields', 'readFields', 'put', 'get'])

export default {
  async fetch(request: Request, env: { KORTEX_STATE: StateNamespace }): Promise<Response> {
    const { op, args, shards, prefix } = (await request.json()) as { op: string; args: unknown[]; shards: number; prefix: string }
    if (op === 'setClock') {
      await Promise.all(Array.from({ length: shards }, (_, i) => (env.KORTEX_STATE.get(env.KORTEX_STATE.idFromName(`${prefix}${i}`)) as { setTestClock(ms: number): Promise<void> }).setTestClock(args[0] as number)))
      return new Response('{}', { headers: { 'content-type': 'application/json' } })
    }
    if (!OPS.has(op)) return new Response('unknown op', { status: 400 })
    const store = new DurableObjectStore(env.KORTEX_STATE, { shards, prefix }) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>
    const out = await store[op]!(...args)
    return new Response(JSON.stringify({ out }, (_k, v) => (v === Infinity ? '∞' : v)), { headers: { 'content-type': 'application/json' } })
  },
}
