// node --import tsx scripts/bench-stream.ts: the CPU a streamed chat costs
// Kortex against a raw undici proxy. A local upstream streams 20 events per
// answer (scripts/bench-upstream.ts `fast`: each event its own write, 1 ms
// apart, then the usage chunk when asked for and [DONE]); the raw proxy and
// Kortex, each pinned to CPU 1, are loaded in turn (autocannon on CPU 0 with
// the upstream; each round starts with the next process) and the figure is
// each one's CPU µs per stream over the counted window, the ratio taken
// within each round and the median reported.
// The client does not ask for usage, so Kortex asks for it upstream and
// strips the usage chunk again: the work it does for every such client.
//
// BENCH_PATHS adds client APIs that Kortex translates to the chat upstream,
// each with its own streamed request, measured in the same rounds:
//   BENCH_PATHS=chat,responses,messages node --import tsx scripts/bench-stream.ts
// A path Kortex does not serve yet is reported and skipped. `plain` adds the
// non-streamed chat of npm run bench (BENCH_BODY), against the raw proxy's
// plain request. BENCH_BEFORE=DIR[,DIR...] adds the gateway of other checkouts
// (e.g. `git worktree`s of older commits, with this node_modules linked in),
// measured in the same rounds: this VM drifts too much for runs to compare.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
// @ts-expect-error autocannon ships no types
import autocannon from 'autocannon'
import { TARGETS, benchConfig, hasTaskset, measureWindow, pin, pinSelf, start, startFlags } from './bench-children.ts'

const DURATION = Number(process.env.BENCH_SECONDS ?? 6)
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 2)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3))
const EVENTS = 20 // data events per answer the client sees (bench-upstream.ts)
pinSelf()

/** What the raw proxy runs as the reference for each: a stream, or the plain request. */
const refOf = (p: string) => (p === 'plain' ? 'plain' : 'chat')
const paths = (process.env.BENCH_PATHS ?? 'chat').split(',').map((s) => s.trim()).filter(Boolean)
for (const p of paths) if (!TARGETS[p]) throw new Error(`BENCH_PATHS: unknown ${p} (one of ${Object.keys(TARGETS).join(', ')})`)

// BENCH_RATE=N: N requests per second in all, the same for every target, so each is measured at the
// same work rate (a proxy that wakes more often for fewer streams pays more per stream).
const RATE = process.env.BENCH_RATE ? Number(process.env.BENCH_RATE) : undefined
const load = (url: string, body: string, seconds: number) =>
  autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: CONNECTIONS, duration: seconds, ...(RATE ? { overallRate: RATE } : {}) })

interface Row {
  name: string
  streams: number
  cpuUs: number
  errors: number
}

/** One load of WARMUP + DURATION seconds on the same connections; CPU µs per stream over the last DURATION. */
async function measure(name: string, url: string, body: string, pid: number): Promise<Row> {
  const run = load(url, body, WARMUP + DURATION)
  let counting = false
  let n = 0
  let errors = 0
  run.on('response', (_c: unknown, status: number) => {
    if (!counting) return
    n++
    if (status !== 200) errors++
  })
  run.on('reqError', () => counting && errors++)
  const { cpu, seconds } = await measureWindow(pid, WARMUP, DURATION, (on) => (counting = on))
  await run
  return { name, streams: n / seconds, cpuUs: (cpu / Math.max(n, 1)) * 1e6, errors }
}

/** One stream read whole: its status and the data events in it (a bench of a broken stream measures nothing). */
async function probe(url: string, body: string): Promise<{ status: number; events: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  const text = await res.text()
  return { status: res.status, events: text.split('\n\n').filter((b) => /^data: (?!\[DONE\])/m.test(b)).length, text }
}

async function main() {
  const tsx = ['node', '--import', 'tsx']
  const upstream = await start(pin(0, [...tsx, 'scripts/bench-upstream.ts', '0', 'fast']))
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`
  const dir = mkdtempSync(join(tmpdir(), 'kortex-bench-stream-'))
  const config = join(dir, 'bench.yaml')
  writeFileSync(config, benchConfig(upstreamUrl))
  const raw = await start(pin(1, [...tsx, 'scripts/bench-raw-proxy.ts', '0', upstreamUrl]))
  const rawBase = `http://127.0.0.1:${raw.port}`
  const gateways: Array<{ name: string; base: string; pid: number }> = []
  const checkouts: Record<string, string> = { kortex: 'bin/kortex.js' }
  for (const dir of (process.env.BENCH_BEFORE ?? '').split(',').filter(Boolean)) checkouts[`kortex before (${dir})`] = join(dir, 'bin/kortex.js')
  for (const [name, bin] of Object.entries(checkouts)) {
    const gw = await start(pin(1, ['node', ...startFlags(), bin, '--config', config, '--port', '0']))
    gateways.push({ name, base: `http://127.0.0.1:${gw.port}`, pid: gw.child.pid! })
  }

  const rawProbe = await probe(rawBase + TARGETS.chat!.path, TARGETS.chat!.body)
  if (rawProbe.events !== EVENTS) throw new Error(`raw proxy: ${rawProbe.events} events, not ${EVENTS}:\n${rawProbe.text}`)
  const live: string[] = []
  for (const p of paths) {
    const t = TARGETS[p]!
    let ok = true
    for (const g of gateways) {
      const got = await probe(g.base + t.path, t.body)
      if (got.status !== 200) {
        console.log(`(${p}: ${g.name} answered ${got.status} on ${t.path}; skipped)`)
        ok = false
        break
      }
      if (p === 'chat' && got.events !== EVENTS) throw new Error(`${g.name} chat: ${got.events} events, not ${EVENTS}:\n${got.text}`)
      await load(g.base + t.path, t.body, 2) // the JIT's warm-up for this path
    }
    if (ok) live.push(p)
  }
  const refs = [...new Set(live.map(refOf))]
  for (const ref of refs) await load(rawBase + TARGETS[ref]!.path, TARGETS[ref]!.body, 2)
  console.log(
    `Kortex stream bench: ${EVENTS}-event chat streams (${process.env.BENCH_CHUNK_GAP_MS ?? 1} ms apart), ${DURATION}s per target after ${WARMUP}s, ${ROUNDS} rounds, ${CONNECTIONS} connections${RATE ? ` at ${RATE} req/s` : ''}${hasTaskset ? ', load+upstream on CPU 0, proxy on CPU 1' : ' (taskset missing: no pinning)'}`,
  )

  const rows: Row[] = []
  const ratios: Record<string, number[]> = {}
  // Each round starts one process further on: whichever process is loaded later in a round was seen
  // to do worse on this VM (each sat idle longer since its last load), so no one keeps the first place.
  const procs = [{ name: 'raw undici proxy', base: rawBase, pid: raw.child.pid!, paths: refs }, ...gateways.map((g) => ({ ...g, paths: live }))]
  for (let r = 1; r <= ROUNDS; r++) {
    const got: Record<string, Row> = {}
    for (let i = 0; i < procs.length; i++) {
      const pr = procs[(i + r - 1) % procs.length]!
      for (const p of pr.paths) {
        const row = await measure(`${pr.name}, ${p} (round ${r})`, pr.base + TARGETS[p]!.path, TARGETS[p]!.body, pr.pid)
        rows.push(row)
        got[`${pr.name}, ${p}`] = row
      }
    }
    for (const g of gateways) for (const p of live) (ratios[`${g.name}, ${p}`] ??= []).push(got[`${g.name}, ${p}`]!.cpuUs / got[`raw undici proxy, ${refOf(p)}`]!.cpuUs)
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!
  console.table(rows.map((r) => ({ target: r.name, 'req/s': Math.round(r.streams), 'CPU µs/req': Math.round(r.cpuUs), errors: r.errors })))
  const cpuOf = (name: string) => median(rows.filter((r) => r.name.startsWith(`${name} (round`)).map((r) => r.cpuUs))
  const perEvent = (p: string, us: number) => (p === 'plain' ? '' : (us / EVENTS).toFixed(1))
  console.table([
    ...refs.map((p) => ({ target: `raw undici proxy, ${p}`, 'CPU µs/req (median)': Math.round(cpuOf(`raw undici proxy, ${p}`)), 'µs per event': perEvent(p, cpuOf(`raw undici proxy, ${p}`)), 'vs raw (median of rounds)': '1.00' })),
    ...Object.entries(ratios).map(([name, xs]) => {
      const p = name.slice(name.lastIndexOf(', ') + 2)
      return { target: name, 'CPU µs/req (median)': Math.round(cpuOf(name)), 'µs per event': perEvent(p, cpuOf(name)), 'vs raw (median of rounds)': median(xs).toFixed(2) }
    }),
  ])
  process.exit(0)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
