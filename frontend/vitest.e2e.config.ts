import { defineConfig } from 'vitest/config'

// Browser flows against a live server (tests/e2e/test_web_app.py starts it and sets
// MCPS_BASE_URL and MCPS_MAIL_DIR). One browser, one file at a time, in order.
export default defineConfig({
  test: {
    environment: 'node',
    include: ['tests/e2e/**/*.e2e.ts'],
    setupFiles: ['tests/e2e/support/failures.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    sequence: { concurrent: false },
  },
})
