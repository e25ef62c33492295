// npm run bench:instructions: the instructions the gateway executes per
// request, counted by valgrind's callgrind, for this checkout and others.
// On a shared VM a CPU-time figure drifts by ±30% between rounds; an
// instruction count does not depend on what else runs, so a change of a few
// per cent shows. It is no time: a cache miss or a system call counts as
// one instruction. Each gateway runs under callgrind with instrumentation
// off, takes BENCH_WARM requests of each kind (the JIT's warm-up, at about
// a fifth of native speed), then counts the next BENCH_N. The figure covers
// every thread of the process (JIT compilation and GC included) and is
// printed whole and without the optimising compiler's share, which varies
// between runs with when V8 tiers code up.
//
//   BENCH_KINDS=chat,plain BENCH_BEFORE=/tmp/kortex-before npm run bench:instructions
//
// BENCH_KINDS: chat, responses, messages (streams) and plain, as in
// bench-stream.ts; `raw` in BENCH_BEFORE adds the raw undici proxy (chat and
// plain only). Needs valgrind (Debian: apt-get install valgrind).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
// @ts-expect-error autocannon ships no types
import autocannon from 'autocannon'
import { TARGETS, benchConfig, start, startFlags } from './bench-children.ts'

const kinds = (process.env.BENCH_KINDS ?? 'chat,plain').split(',').filter(Boolean)
const N = Number(process.env.BENCH_N ?? 500)
const WARM = Number(process.env.BENCH_WARM ?? 6000)
for (const k of kinds) if (!TARGETS[k]) throw new Error(`BENCH_KINDS: unknown ${k} (one of ${Object.keys(TARGETS).join(', ')})`)

const load = (url: string, body: string, amount: number) => autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: 8, amount })
const control = (pid: number, ...args: string[]) => execFileSync('callgrind_control', [...args, String(pid)], { stdio: 'ignore' })

/** Instructions in a callgrind dump: all, and those of V8's optimising compiler (TurboFan). */
function count(file: string): { all: number; compiler: number } {
  const text = readFileSync(file, 'utf8')
  const all = Number(/^(?:summary|totals): (\d+)/m.exec(text)![1])
  const names = new Map<string, string>()
  let compiler = 0
  let inCompiler = false
  let callCost = false // the line after calls= is the callee's inclusive cost, not this function's
  for (const line of text.split('\n')) {
    // Names are given once, where an id is first seen (fn= or cfn=), and by id after.
    const fn = /^c?fn=\((\d+)\)(?: (.*))?$/.exec(line)
    if (fn) {
      if (fn[2]) names.set(fn[1]!, fn[2])
      if (line.startsWith('fn=')) inCompiler = (names.get(fn[1]!) ?? '').includes('compiler::')
      continue
    }
    if (line.startsWith('calls=')) {
      callCost = true
      continue
    }
    if (!/^[-+*\d]/.test(line)) continue
    if (callCost) callCost = false
    else if (inCompiler) compiler += Number(line.split(' ')[1] ?? 0)
  }
  return { all, compiler }
}

async function main() {
  const upstream = await start(['node', '--import', 'tsx', 'scripts/bench-upstream.ts', '0', 'fast'])
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`
  const dir = mkdtempSync(join(tmpdir(), 'kortex-bench-ir-'))
  writeFileSync(join(dir, 'bench.yaml'), benchConfig(upstreamUrl))
  const targets = ['.', ...(process.env.BENCH_BEFORE ?? '').split(',').filter(Boolean)]
  console.log(`Instructions per request under callgrind: ${WARM} requests of each kind to warm up, ${N} counted, 8 connections`)
  for (const t of targets) {
    const out = mkdtempSync(join(tmpdir(), 'kortex-callgrind-'))
    const cmd = t === 'raw' ? ['node', '--import', 'tsx', 'scripts/bench-raw-proxy.ts', '0', upstreamUrl] : ['node', ...startFlags(), join(t, 'bin/kortex.js'), '--config', join(dir, 'bench.yaml'), '--port', '0']
    const gw = await start(['valgrind', '--tool=callgrind', '--instr-atstart=no', '--smc-check=all-non-file', `--callgrind-out-file=${out}/cg.out`, ...cmd])
    const pid = gw.child.pid!
    for (const k of kinds) {
      if (t === 'raw' && k !== 'chat' && k !== 'plain') continue
      const url = `http://127.0.0.1:${gw.port}${TARGETS[k]!.path}`
      await load(url, TARGETS[k]!.body, WARM)
      control(pid, '-i', 'on')
      control(pid, '-z')
      const r = await load(url, TARGETS[k]!.body, N)
      control(pid, '-d')
      control(pid, '-i', 'off')
      const dumps = readdirSync(out).filter((f) => /^cg\.out\.\d+$/.test(f)).sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()))
      const { all, compiler } = count(join(out, dumps.at(-1)!))
      const bad = r.non2xx + r.errors
      console.log(`${t === '.' ? 'kortex (this checkout)' : t}, ${k}: ${Math.round(all / N / 1000)}k per request, ${Math.round((all - compiler) / N / 1000)}k without the optimising compiler${bad ? ` (${bad} failed)` : ''}`)
    }
    gw.child.kill('SIGKILL')
  }
  process.exit(0)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
