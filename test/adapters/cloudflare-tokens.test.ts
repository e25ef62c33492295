// The Worker a user deploys: the tokenizer's tables are static assets, not
// script, so the bundle stays small, and a token-limited route still counts
// prompts exactly (the tables fetched through the ASSETS binding).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { Miniflare } from 'miniflare'
import { countPromptTokens, estimatePromptTokens } from '../../src/usage/tokens.ts'
import { buildWorker, workerOptions, type BuiltWorker } from './cloudflare-harness.ts'

const root = new URL('../..', import.meta.url).pathname

describe('the Worker bundle wrangler deploys', () => {
  it('is at most 300 KiB gzipped: the tokenizer tables go as assets', async () => {
    const out = await mkdtemp(join(tmpdir(), 'kortex-wrangler-'))
    try {
      const { stdout } = await promisify(execFile)(join(root, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--outdir', out], {
        cwd: root,
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' },
      })
      expect(stdout).toContain('env.ASSETS')
      const gzipKiB = gzipSync(await readFile(join(out, 'worker.js'))).length / 1024
      expect(gzipKiB).toBeLessThanOrEqual(300)
    } finally {
      await rm(out, { recursive: true, force: true })
    }
  })
})

const LIMIT = 100_000
const MAX_TOKENS = 50
const config = `
apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: edge-tokens }
spec:
  auth: { open: true }
  accessLog: false
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: echo }
spec:
  type: demo
  demo: { chunkDelayMs: 0 }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: limited }
spec:
  models: [gpt-4o]
  defaultBackend: { name: echo }
  rateLimit: { tokensPerMinute: ${LIMIT} }
`
// Words, digits and code: the estimate lands near the count, but not on it.
const messages = [{ role: 'user', content: 'Summarise: the quick brown fox jumps over the lazy dog 42 times, then `npm test` runs 579 tests in 48 files.' }]

let worker: BuiltWorker
let mf: Miniflare
/** What the Worker wrote to its console. */
const lines: string[] = []

beforeAll(async () => {
  worker = await buildWorker()
  mf = new Miniflare({
    handleStructuredLogs: ({ message }: { message: string }) => void lines.push(message),
    workers: [
      workerOptions(worker, 'assets', { KORTEX_CONFIG_YAML: config }, { state: false }),
      workerOptions(worker, 'bare', { KORTEX_CONFIG_YAML: config }, { state: false, assets: false }),
    ],
  })
})

afterAll(async () => {
  await mf?.dispose()
  await worker?.remove()
})

const reserved = async (host: string) => {
  const res = await mf.dispatchFetch(`http://${host}.kortex.test/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o', max_tokens: MAX_TOKENS, messages }),
  })
  expect(res.status).toBe(200)
  await res.text()
  return LIMIT - Number(res.headers.get('x-ratelimit-remaining-tokens'))
}

describe('a token-limited route on the Worker', () => {
  it("reserves the prompt's exact count, the tables fetched from the static assets", async () => {
    const exact = await countPromptTokens({ messages }, 'gpt-4o')
    expect(estimatePromptTokens({ messages }, 'gpt-4o').tokens).not.toBe(exact)
    expect(await reserved('assets')).toBe(MAX_TOKENS + exact)
    expect(lines.join('\n')).not.toContain('tokenizer tables unavailable')
  })

  it('without the ASSETS binding, estimates and says why once', async () => {
    const estimate = estimatePromptTokens({ messages }, 'gpt-4o').tokens
    expect(await reserved('bare')).toBe(MAX_TOKENS + estimate)
    await reserved('bare')
    expect(lines.filter((l) => l.includes('tokenizer tables unavailable (no ASSETS binding'))).toHaveLength(1)
  })
})
