// bin/kortex.js in a checkout: runs the TypeScript sources with no build step.
// esbuild bundles them (~50 ms, in a child process) into node_modules/.cache
// with the options `npm run build` uses (scripts/bundle.js), and Node runs
// plain JS. That keeps tsx's loader thread, and its memory, out of the
// serving process. Where the cache cannot be written, tsx runs the sources.
//
// Each build goes to a directory named by a hash of its output, written
// whole and renamed into place, so processes starting together never see a
// half-written or changed bundle.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { bundleOptions, entry } from './bundle.js'

const cache = fileURLToPath(new URL('../node_modules/.cache/kortex/', import.meta.url))
const KEEP = 3 // builds kept besides the one starting, the most recently used first

async function bundle() {
  const { build } = await import('esbuild')
  // Laid out as if in cache/out: the final directory sits at the same depth, so the maps' relative paths hold.
  const outdir = join(cache, 'out')
  const { outputFiles } = await build({ ...bundleOptions(outdir), write: false })
  const hash = createHash('sha256')
  for (const f of outputFiles) hash.update(relative(outdir, f.path)).update(f.contents)
  const dir = join(cache, hash.digest('hex').slice(0, 16))
  const main = join(dir, 'kortex.mjs')
  try {
    statSync(main)
    utimesSync(dir, new Date(), new Date())
  } catch {
    const tmp = `${dir}.${process.pid}.tmp`
    for (const f of outputFiles) {
      const to = join(tmp, relative(outdir, f.path))
      mkdirSync(dirname(to), { recursive: true })
      writeFileSync(to, f.contents)
    }
    try {
      renameSync(tmp, dir)
    } catch {
      rmSync(tmp, { recursive: true, force: true }) // another process put the same build there first
    }
  }
  prune(dir)
  return main
}

/** Old builds go, but never the newest few: a process started from one may still import its chunks. */
function prune(current) {
  try {
    const old = readdirSync(cache, { withFileTypes: true })
      .filter((d) => d.isDirectory() && /^[0-9a-f]{16}$/.test(d.name) && join(cache, d.name) !== current)
      .map((d) => ({ path: join(cache, d.name), used: statSync(join(cache, d.name)).mtimeMs }))
      .sort((a, b) => b.used - a.used)
    for (const d of old.slice(KEEP)) rmSync(d.path, { recursive: true, force: true })
  } catch {
    // pruning is housekeeping only
  }
}

// The build runs in a child process (this file again, with KORTEX_BUILD set):
// esbuild's API loaded in the serving process kept ~10 MB of RSS for good.
if (process.env.KORTEX_BUILD === '1') {
  process.stdout.write(await bundle())
  process.exit(0)
}

const built = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, KORTEX_BUILD: '1' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
let main
if (built.status === 0 && built.stdout) main = pathToFileURL(built.stdout).href
else {
  const { register } = await import('tsx/esm/api')
  register()
  main = pathToFileURL(entry).href
}
await import(main)
