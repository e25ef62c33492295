// The rank files from the js-tiktoken package, for runtimes that load packages
// (Node, Deno): their entries pass this to useRankSource. The Worker does not
// import this module, so its bundle holds no tables (it fetches them from its
// static assets). Literal specifiers, so bundlers see both files.
import type { RankSource } from './bpe.ts'

export const packageRanks: RankSource = async (name) =>
  (name === 'o200k_base' ? await import('js-tiktoken/ranks/o200k_base') : await import('js-tiktoken/ranks/cl100k_base')).default
