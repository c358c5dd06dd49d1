/** The mail the API wrote to files (the SDK's live tests read it the same way). */
import { lastMailIn } from '../../../../sdk/typescript/tests/mail'
import { MAIL_DIR } from './env'

export { codeIn } from '../../../../sdk/typescript/tests/mail'

export function lastMailTo(address: string, timeoutMs = 10_000): Promise<string> {
  return lastMailIn(MAIL_DIR, address, timeoutMs)
}
