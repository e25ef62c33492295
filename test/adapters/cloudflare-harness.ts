// Builds the Worker as wrangler would (one ES module, no Node built-ins, no
// nodejs_compat; cloudflare:* left to the runtime) and starts workerd through
// miniflare, for the Workers tests and the conformance suite.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
// @ts-expect-error a plain-JS build step (wrangler.toml [build]), no types
import { writeTokenizerAssets } from '../../adapters/cloudflare/tokenizer-assets.js'

export const COMPATIBILITY_DATE = '2026-04-01' // keep in step with wrangler.toml
/** otel-cf-workers imports node:async_hooks, node:buffer and node:events. */
export const COMPATIBILITY_FLAGS = ['nodejs_compat']

export interface BuiltWorker {
  dir: string
  /** The static assets wrangler.toml's build command writes (the tokenizer's tables). */
  assetsDir: string
  scriptPath: string
  bytes: number
  gzipBytes: number
  remove(): Promise<void>
}

export async function buildWorker(): Promise<BuiltWorker> {
  const dir = await mkdtemp(join(tmpdir(), 'kortex-worker-'))
  const scriptPath = join(dir, 'worker.js')
  await build({
    entryPoints: [new URL('../../adapters/cloudflare/worker.ts', import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    // As wrangler bundles: the browser platform (package.json "browser" maps apply) with workerd's conditions.
    platform: 'browser',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['browser', 'module', 'main'],
    external: ['cloudflare:*', 'node:*'],
    // As wrangler.toml's [alias]: the OTLP exporter base's ES module build.
    alias: { '@opentelemetry/otlp-exporter-base': new URL('../../node_modules/@opentelemetry/otlp-exporter-base/build/esm/index.js', import.meta.url).pathname },
    outfile: scriptPath,
    logLevel: 'warning',
  })
  const bundle = await readFile(scriptPath)
  const assetsDir = await writeTokenizerAssets(join(dir, 'assets'))
  return { dir, assetsDir, scriptPath, bytes: bundle.length, gzipBytes: gzipSync(bundle).length, remove: () => rm(dir, { recursive: true, force: true }) }
}

/**
 * The miniflare options of one Worker running the bundle; `state` as a script name binds the KortexState
 * objects of another Worker (shared state); `assets: false` leaves out the ASSETS binding.
 */
export function workerOptions(w: BuiltWorker, name: string, bindings: Record<string, string> = {}, opts: { state?: boolean | string; assets?: boolean } = {}) {
  const state = opts.state === undefined ? true : opts.state
  return {
    name,
    modules: true,
    scriptPath: w.scriptPath,
    modulesRoot: w.dir,
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: COMPATIBILITY_FLAGS,
    routes: [`${name}.kortex.test/*`],
    bindings,
    // As wrangler.toml: run_worker_first, the assets reachable through the binding only.
    ...(opts.assets === false ? {} : { assets: { directory: w.assetsDir, binding: 'ASSETS', routerConfig: { invoke_user_worker_ahead_of_assets: true, has_user_worker: true } } }),
    ...(state ? { durableObjects: { KORTEX_STATE: typeof state === 'string' ? { className: 'KortexState', scriptName: state, useSQLite: true } : { className: 'KortexState', useSQLite: true } } } : {}),
  }
}

/** Bundles the store driver (test/adapters/cloudflare-store-driver.ts) next to `w`. */
export async function buildStoreDriver(dir: string): Promise<string> {
  const scriptPath = join(dir, 'driver.js')
  await build({
    entryPoints: [new URL('./cloudflare-store-driver.ts', import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    external: ['cloudflare:*'],
    outfile: scriptPath,
    logLevel: 'warning',
  })
  return scriptPath
}
