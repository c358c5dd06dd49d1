/** The mail the API writes to files in embedded mode: the newest message to an address, and
 * the single-use code it asks to paste. Shared by the SDK's and the web app's live tests. */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

/** The text body of the newest mail to `address` in `dir`, waiting up to `timeoutMs` for it. */
export async function lastMailIn(dir: string, address: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const files = readdirSync(dir)
      .filter((name) => name.endsWith('.eml'))
      .map((name) => join(dir, name))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
    for (const file of files) {
      const mail = parseMail(readFileSync(file, 'utf8'))
      if (mail.to === address) return mail.body
    }
    if (Date.now() > deadline) throw new Error(`no mail to ${address} in ${dir}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The single-use code a mail asks to paste (the same token its link carries). */
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
