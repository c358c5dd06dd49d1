import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 30_000,
    // One live server and its database serve every file: run files one at a time.
    fileParallelism: false,
  },
})
