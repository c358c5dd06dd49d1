import { describe, expect, it } from 'vitest'
import type { MessageContext } from 'vue-i18n'

import { compileMessage } from './compile'

function render(message: string, values: Record<string, unknown> = {}): string {
  const fn = compileMessage(message, { key: 'k', locale: 'en', onError: () => {} } as never)
  return String(fn({ values } as unknown as MessageContext))
}

describe('compileMessage', () => {
  it('fills named placeholders and leaves other text alone', () => {
    expect(render('Hello, {name}!', { name: 'Ada' })).toBe('Hello, Ada!')
    expect(render('{a} and {b}', { a: 1, b: 2 })).toBe('1 and 2')
    expect(render('mail to ada@example.com | $MCPS_HOME')).toBe('mail to ada@example.com | $MCPS_HOME')
  })

  it('shows a placeholder it has no value for, rather than hiding the gap', () => {
    expect(render('Hi {name}')).toBe('Hi {name}')
  })
})
