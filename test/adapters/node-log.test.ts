// The Node logger gathers records into one stdout write at most every
// FLUSH_MS; nothing may be lost or reordered, even on an immediate exit.
import { expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const log = fileURLToPath(new URL('../../adapters/node/log.ts', import.meta.url))
const run = (body: string) =>
  execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `import { stdoutLogger } from ${JSON.stringify(log)}; const l = stdoutLogger(); ${body}`], { encoding: 'utf8' })

it('writes one JSON record per line, in order, within FLUSH_MS while the process runs', () => {
  // The marker is written straight to stdout 300 ms later: the records must already be out by then.
  const out = run(`for (let i = 0; i < 3; i++) l.record({ type: 'cost', i }); setTimeout(() => { process.stdout.write('marker\\n'); l.record({ type: 'cost', i: 3 }) }, 300)`)
  const lines = out.trim().split('\n')
  expect(lines.slice(0, 3).map((x) => JSON.parse(x))).toEqual([0, 1, 2].map((i) => ({ type: 'cost', i })))
  expect(lines[3]).toBe('marker')
  // The last one, still waiting when the process ended, came out on exit.
  expect(JSON.parse(lines[4]!)).toEqual({ type: 'cost', i: 3 })
})

it('gathers the records of many turns into one write', () => {
  // 20 records, one per turn (setImmediate), then one write of all of them: a stdout write is counted by wrapping it.
  const out = run(`let writes = 0; const w = process.stdout.write.bind(process.stdout); process.stdout.write = (c) => (writes++, w(c)); let i = 0; const next = () => { l.record({ i }); if (++i < 20) setImmediate(next); else setTimeout(() => w('writes=' + writes + '\\n'), 200) }; next()`)
  const lines = out.trim().split('\n')
  expect(lines.pop()).toBe('writes=1')
  expect(lines.map((x) => JSON.parse(x).i)).toEqual([...Array(20).keys()])
})

it('an exit in the same turn still writes every record', () => {
  const out = run(`for (let i = 0; i < 5; i++) l.record({ i }); process.exit(0)`)
  expect(out.trim().split('\n')).toHaveLength(5)
})

it('a batch past 64 KB is written at once, and the rest follows', () => {
  const out = run(`const big = 'x'.repeat(1000); for (let i = 0; i < 200; i++) l.record({ i, big })`)
  const lines = out.trim().split('\n').map((x) => JSON.parse(x).i)
  expect(lines).toEqual([...Array(200).keys()])
})
