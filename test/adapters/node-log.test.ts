// The Node logger gathers records into one stdout write per turn of the
// event loop; nothing may be lost or reordered, even on an immediate exit.
import { expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const log = fileURLToPath(new URL('../../adapters/node/log.ts', import.meta.url))
const run = (body: string) =>
  execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `import { stdoutLogger } from ${JSON.stringify(log)}; const l = stdoutLogger(); ${body}`], { encoding: 'utf8' })

it('writes one JSON record per line, in order, within the turn', () => {
  const out = run(`for (let i = 0; i < 3; i++) l.record({ type: 'cost', i }); setTimeout(() => process.stderr.write('later'), 10)`)
  expect(out.trim().split('\n').map((x) => JSON.parse(x))).toEqual([0, 1, 2].map((i) => ({ type: 'cost', i })))
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
