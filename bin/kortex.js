#!/usr/bin/env node
// Runs Kortex from its TypeScript sources with no build step: esbuild bundles
// the Node entry (~50 ms) into node_modules/.cache and Node runs plain JS.
// That keeps tsx's loader thread, and its memory, out of the serving process.
// Where the cache cannot be written (a read-only install), tsx runs the
// sources instead.
import { fileURLToPath } from 'node:url'

const entry = fileURLToPath(new URL('../adapters/node/main.ts', import.meta.url))
const outfile = fileURLToPath(new URL('../node_modules/.cache/kortex/kortex.mjs', import.meta.url))

let bundled = false
try {
  const { build } = await import('esbuild')
  await build({ entryPoints: [entry], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', sourcemap: 'linked', logLevel: 'silent' })
  bundled = true
} catch {
  const { register } = await import('tsx/esm/api')
  register()
}
process.setSourceMapsEnabled(true)
await import(bundled ? outfile : entry)
