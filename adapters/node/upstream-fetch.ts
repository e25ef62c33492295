// The upstream fetch for Node. (A faster undici-based client replaces this.)
import type { FetchLike } from '../../src/providers/types.ts'

export function createUpstreamFetch(): FetchLike {
  return (input, init) => fetch(input, init)
}
