// npm run fuzz: the properties of test/fuzz/gateway.test.ts, for long.
// FUZZ_REQUESTS (default 100,000) hostile and malformed requests at the Node
// gateway (malformed JSON, wrong types in every field, huge values, unicode
// junk, odd headers, content types, models, keys, methods and paths), then
// the cases kept apart in the test: bodies nested thousands of levels deep,
// operations a route cannot serve, and bytes that are not HTTP. Each section
// gets a fresh gateway. Prints answers by kind, status and error code, every
// broken rule (5xx for a client's mistake, no answer in time, an error that
// is not OpenAI-shaped JSON) with an example, and the failures counted
// against backends. Seeded (FUZZ_SEED). Exits 1 when a rule is broken.
import fc from 'fast-check'
import { deepNesting, describeRequest, hostileRequest, keepAliveRetries, rawJunk, sendRaw, startFuzzTarget, unservedOperation, violations, type Answer, type Hostile, type Junk } from '../test/fuzz/hostile.ts'

const TOTAL = Number(process.env.FUZZ_REQUESTS ?? 100_000)
const SEED = Number(process.env.FUZZ_SEED ?? 20261206)
const CONCURRENCY = Number(process.env.FUZZ_CONCURRENCY ?? 8)
const BATCH = 200

interface Section {
  name: string
  count: number
  arbitrary: fc.Arbitrary<Hostile | Junk>
}

const isJunk = (r: Hostile | Junk): r is Junk => 'bytes' in r

function errorCode(text: string): string {
  try {
    return JSON.parse(text).error?.code ?? '-'
  } catch {
    return 'not json'
  }
}

async function run(s: Section, seed: number): Promise<boolean> {
  const target = await startFuzzTarget()
  const retriesBefore = keepAliveRetries.count
  const answers = new Map<string, number>()
  const broken = new Map<string, { n: number; example: string }>()
  const started = performance.now()
  let done = 0
  for (let b = 0; done < s.count; b++) {
    const batch = fc.sample(s.arbitrary, { numRuns: Math.min(BATCH, s.count - done), seed: seed + b })
    let next = 0
    const worker = async () => {
      while (next < batch.length) {
        const r = batch[next++]!
        const req: Hostile = isJunk(r) ? { kind: r.kind, method: 'GET', path: '/', headers: {} } : r
        let a: Answer | undefined
        let problems: string[]
        try {
          a = isJunk(r) ? await sendRaw(target.kortex.url, r.bytes) : await target.send(r)
          problems = violations(req, a)
          if (isJunk(r) && (a.status < 400 || a.status >= 500)) problems.push(`status ${a.status || 'none'} for bytes that are not HTTP`)
        } catch (err) {
          problems = [`no answer: ${(err as Error).message}`]
        }
        const code = a && a.status >= 400 && req.method !== 'HEAD' ? errorCode(a.text) : ''
        const key = `${req.kind.padEnd(20)} ${a?.status ?? 'none'} ${code}`
        answers.set(key, (answers.get(key) ?? 0) + 1)
        for (const p of problems) {
          const k = `${req.kind}: ${p.replace(/: .*/, '')}`
          const e = broken.get(k) ?? { n: 0, example: `${isJunk(r) ? JSON.stringify(r.bytes.slice(0, 160)) : describeRequest(r)}\n    got: ${a ? `${a.status} ${a.text.slice(0, 120)}` : p}` }
          e.n++
          broken.set(k, e)
        }
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    done += batch.length
    target.upstream.requests.length = 0
    target.anthropic.requests.length = 0
    if (b % 50 === 49) console.error(`  ${s.name}: ${done}/${s.count}`)
  }
  const backends = await target.backendFailures()
  await target.close()
  const seconds = (performance.now() - started) / 1000
  console.log(`\n== ${s.name}: ${s.count} requests in ${seconds.toFixed(0)} s`)
  for (const [k, n] of [...answers].sort(([a], [b]) => a.localeCompare(b))) console.log(`  ${String(n).padStart(7)}  ${k}`)
  console.log(`  failures counted against backends: ${backends.failures}${backends.open.length ? `; breakers open: ${backends.open.join(', ')}` : ''}`)
  console.log(`  sent again after a kept-alive connection closed under them: ${keepAliveRetries.count - retriesBefore}`)
  if (!broken.size && !backends.failures) console.log('  ok: every rule held')
  for (const [k, e] of broken) console.log(`  BROKEN ${e.n}× ${k}\n    e.g. ${e.example}`)
  return broken.size > 0 || backends.failures > 0
}

const sections: Section[] = [
  { name: 'hostile requests', count: TOTAL, arbitrary: hostileRequest },
  { name: 'deep nesting', count: Math.max(100, Math.round(TOTAL / 100)), arbitrary: deepNesting },
  { name: 'unserved operations', count: 100, arbitrary: unservedOperation },
  { name: 'bytes that are not HTTP', count: Math.max(100, Math.round(TOTAL / 100)), arbitrary: rawJunk },
]
let failed = false
for (const [i, s] of sections.entries()) failed = (await run(s, SEED + i * 1_000_003)) || failed
console.log(failed ? '\nFAILED: see BROKEN above' : '\nok: no rule broken')
process.exitCode = failed ? 1 : 0
