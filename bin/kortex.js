#!/usr/bin/env node
// The `kortex` command. An installed package runs dist/, the plain JavaScript
// `npm run build` made before packing: nothing is compiled or written at run
// time, so it starts from a read-only file system. A checkout of the
// repository runs its TypeScript sources instead (bundled on each start by
// scripts/run-sources.js), so an edit shows on the next run with no build.
import { existsSync } from 'node:fs'

process.setSourceMapsEnabled(true)
if (existsSync(new URL('../adapters/node/cli.ts', import.meta.url))) await import('../scripts/run-sources.js')
else await import('../dist/kortex.mjs')
