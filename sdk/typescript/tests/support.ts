/** Live-server plumbing: the API under test, fresh people, and the mail it wrote to files. */

import { McpsClient } from '../src'
import { lastMailIn } from './mail'

export { codeIn } from './mail'

/** Set by tests/e2e/test_typescript_sdk.py, which starts the real API. */
export const BASE_URL = process.env['MCPS_BASE_URL'] ?? ''
export const MAIL_DIR = process.env['MCPS_MAIL_DIR'] ?? ''
/** Live tests run only against a server; `pytest tests/e2e/test_typescript_sdk.py` starts one. */
export const live = BASE_URL !== '' && MAIL_DIR !== ''

export const PASSWORD = 'Sup3r-secret!'

let counter = 0
/** A username no other test (or earlier run on the same database) has taken. */
export function uniqueName(prefix: string): string {
  counter += 1
  return `${prefix}-${Date.now().toString(36)}-${counter}`
}

/** A registered, signed-in person with their own client. */
export async function signedInPerson(
  prefix = 'sdk',
): Promise<{ client: McpsClient; username: string; email: string }> {
  const client = new McpsClient({ baseURL: BASE_URL, maxRetries: 0 })
  const username = uniqueName(prefix)
  const email = `${username}@example.com`
  await client.auth.register({ email, username, password: PASSWORD })
  await client.auth.login({ email, password: PASSWORD })
  return { client, username, email }
}

/** The text body of the newest mail to `address`, waiting up to `timeoutMs` for it. */
export function lastMailTo(address: string, timeoutMs = 5000): Promise<string> {
  return lastMailIn(MAIL_DIR, address, timeoutMs)
}
