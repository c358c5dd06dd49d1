/** Where the live server is, and where the browser tests leave what they saw. */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'

function required(name: string): string {
  const value = process.env[name]
  if (!value) {
    throw new Error(
      `${name} is not set: run the browser tests with \`pytest tests/e2e/test_web_app.py\` ` +
        '(or `./run test`), which starts the API on real PostgreSQL',
    )
  }
  return value
}

/** The API serving the built SPA, e.g. http://127.0.0.1:41234. */
export const BASE_URL = required('MCPS_BASE_URL')
/** Where the API writes outgoing mail as .eml files. */
export const MAIL_DIR = required('MCPS_MAIL_DIR')
/** Screenshots and timings (gitignored). */
export const ARTIFACTS = process.env['MCPS_ARTIFACTS_DIR'] ?? join(process.cwd(), '..', 'artifacts')
export const SCREENSHOTS = join(ARTIFACTS, 'screenshots')
mkdirSync(SCREENSHOTS, { recursive: true })

export const PASSWORD = 'Sup3r-secret!'
