import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/helpers/package-ranks.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
})
