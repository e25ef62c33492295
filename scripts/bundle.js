// How Kortex's Node entry becomes plain JavaScript: `npm run build` writes it
// to dist/ (what the package ships and production runs), and bin/kortex.js
// in a checkout bundles the same way on every start (scripts/run-sources.js).
//
// The bundle is split at dynamic imports, so a module loaded with `await
// import()` (one only some configs or commands need: the controller, Redis,
// `validate`) and the packages it imports stay out of memory until used; a
// single file would hoist their imports to the top. Packages stay external:
// they come from node_modules, as installed.
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const entry = fileURLToPath(new URL('../adapters/node/cli.ts', import.meta.url))

/** esbuild options for a build into outdir; the entry comes out as kortex.mjs. */
export function bundleOptions(outdir) {
  return {
    entryPoints: [entry],
    outdir,
    entryNames: 'kortex',
    chunkNames: 'chunk-[hash]',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'silent',
  }
}

// npm run build
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { build } = await import('esbuild')
  const dist = fileURLToPath(new URL('../dist/', import.meta.url))
  rmSync(dist, { recursive: true, force: true })
  await build({ ...bundleOptions(dist), write: true, logLevel: 'warning' })
  console.error(`kortex: built ${dist}kortex.mjs`) // stderr: npm pack --json prints its report on stdout after prepack
}
