// The tokenizer's rank tables on Workers: 3.4 MB that most routes never use,
// so they are not in the bundle (which would be six times larger) but in the
// Worker's static assets (wrangler.toml [assets], written by
// tokenizer-assets.js), fetched through the ASSETS binding the first time a
// token limit or prompt-token rule needs an exact count: once per isolate.
import type { RankSource, Ranks } from '../../src/usage/bpe.ts'
import type { Logger } from '../../src/telemetry/log.ts'

/** The part of the static assets binding (a Fetcher) used here. */
export interface AssetsBinding {
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>
}

/** Where tokenizer-assets.js puts each encoding's file, under the assets directory. */
export const assetPath = (name: string) => `/tokenizer/${name}.json`

export function assetRanks(assets: AssetsBinding | undefined, log: Logger): RankSource {
  let told = false
  return async (name) => {
    if (!assets) {
      // Each count retries the load: say it once.
      if (!told) log.error('kortex: tokenizer tables unavailable (no ASSETS binding, see wrangler.toml [assets]); prompt tokens are estimated')
      told = true
      throw new Error('no ASSETS binding')
    }
    try {
      // The host is ignored: the binding serves this Worker's assets only.
      const res = await assets.fetch(`https://assets.invalid${assetPath(name)}`)
      if (!res.ok) throw new Error(`${assetPath(name)} answered ${res.status}`)
      return (await res.json()) as Ranks
    } catch (err) {
      // The callers fall back on the estimate; say once per failed load why counts are not exact.
      log.error('kortex: tokenizer tables unavailable; prompt tokens are estimated', { encoding: name, error: (err as Error).message })
      throw err
    }
  }
}
