// src/ ships to Workers and Deno: it may use Web APIs only.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { expect, it } from 'vitest'

const root = new URL('../src/', import.meta.url).pathname

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : []
  })
}

const rules: Array<[RegExp, string]> = [
  [/from\s+['"]node:/, 'a node: import'],
  [/from\s+['"](fs|path|http|https|net|os|crypto|stream|child_process|url|util|buffer|events)(\/[^'"]*)?['"]/, 'a Node built-in import'],
  [/from\s+['"]cloudflare:/, 'a cloudflare: import'],
  [/from\s+['"](@hono\/node-server|undici|ioredis|redis|@kubernetes\/client-node)['"]/, 'a runtime-specific package'],
  [/\brequire\s*\(/, 'require()'],
  [/\bDeno\./, 'the Deno global'],
  [/\bprocess\b(?!ing)/, 'the process global'],
  [/\bBuffer\./, 'the Buffer global'],
  [/\b__dirname\b|\b__filename\b/, 'CommonJS globals'],
]

it('no file under src/ reaches for a runtime', () => {
  const found: string[] = []
  for (const f of files(root)) {
    const lines = readFileSync(f, 'utf8').split('\n')
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '')
      for (const [re, what] of rules) if (re.test(code)) found.push(`${f.slice(root.length)}:${i + 1}: ${what}: ${line.trim()}`)
    })
  }
  expect(found).toEqual([])
})

it('the check itself catches a violation', () => {
  const bad = "import { readFile } from 'node:fs'\nconst x = process.env.X"
  expect(rules.filter(([re]) => bad.split('\n').some((l) => re.test(l))).length).toBeGreaterThanOrEqual(2)
})
