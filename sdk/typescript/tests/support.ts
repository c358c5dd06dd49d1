/** Live-server plumbing: the API under test, fresh people, and the mail it wrote to files. */

import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

import { McpsClient } from '../src'

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
export async function lastMailTo(address: string, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const files = readdirSync(MAIL_DIR)
      .filter((f) => f.endsWith('.eml'))
      .map((f) => join(MAIL_DIR, f))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
    for (const file of files) {
      const mail = parseMail(readFileSync(file, 'utf8'))
      if (mail.to === address) return mail.body
    }
    if (Date.now() > deadline) throw new Error(`no mail to ${address} in ${MAIL_DIR}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The single-use code a mail asks to paste. */
export function codeIn(body: string): string {
  const match = /paste this code: (\S+)/.exec(body)
  if (!match?.[1]) throw new Error(`no code in mail:\n${body}`)
  return match[1]
}

function parseMail(raw: string): { to: string; body: string } {
  const [head = '', ...rest] = raw.split(/\r?\n\r?\n/)
  const headers = new Map<string, string>()
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const at = line.indexOf(':')
    if (at > 0) headers.set(line.slice(0, at).toLowerCase(), line.slice(at + 1).trim())
  }
  let body = rest.join('\n\n')
  const encoding = headers.get('content-transfer-encoding')?.toLowerCase()
  if (encoding === 'base64') body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
  if (encoding === 'quoted-printable') {
    const bytes = body
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    body = Buffer.from(bytes, 'latin1').toString('utf8')
  }
  return { to: headers.get('to') ?? '', body }
}
