// Writes the tokenizer's rank tables as the Worker's static assets
// (tokenizer/<encoding>.json), from the installed js-tiktoken package. Runs as
// wrangler.toml's [build] command, so `wrangler dev` and `wrangler deploy`
// always serve the tables of the package in package-lock.json; the tests call
// writeTokenizerAssets for the Worker they start.
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ENCODINGS = ['o200k_base', 'cl100k_base']

/** The assets directory wrangler.toml names. */
export const assetsDir = fileURLToPath(new URL('../../.wrangler/kortex-assets/', import.meta.url))

export async function writeTokenizerAssets(dir = assetsDir) {
  await mkdir(join(dir, 'tokenizer'), { recursive: true })
  for (const name of ENCODINGS) {
    const { default: ranks } = await import(`js-tiktoken/ranks/${name}`)
    await writeFile(join(dir, 'tokenizer', `${name}.json`), JSON.stringify({ pat_str: ranks.pat_str, bpe_ranks: ranks.bpe_ranks }))
  }
  return dir
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await writeTokenizerAssets()
