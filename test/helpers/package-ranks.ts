// Every test file (vitest setupFiles): the core runs in-process as the Node
// entry runs it, exact token counts from the js-tiktoken package.
import { packageRanks } from '../../src/usage/package-ranks.ts'
import { useRankSource } from '../../src/usage/tokens.ts'

useRankSource(packageRanks)
