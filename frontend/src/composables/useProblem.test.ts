import { APIConnectionError, APIError, APITimeoutError } from '@mcps/sdk'
import { describe, expect, it } from 'vitest'

import en from '@/i18n/locales/en.json'
import zhCN from '@/i18n/locales/zh-CN.json'

import { describeProblem, KNOWN_PROBLEM_CODES } from './useProblem'

type Messages = Record<string, unknown>

function lookup(messages: Messages, key: string): string | undefined {
  const value = key.split('.').reduce<unknown>((node, part) => (node as Messages | undefined)?.[part], messages)
  return typeof value === 'string' ? value : undefined
}

const t = (key: string) => lookup(zhCN, key) ?? key
const te = (key: string) => lookup(zhCN, key) !== undefined

function problem(status: number, code: string, extra: Record<string, unknown> = {}): APIError {
  return APIError.of(status, { type: 't', title: 'x', status, code, detail: 'server says so', ...extra }, new Headers())
}

describe('describeProblem', () => {
  it('translates a known code and keeps the request id', () => {
    const shown = describeProblem(problem(409, 'tenant.last_owner', { request_id: 'req-1' }), t, te)
    expect(shown).toMatchObject({ code: 'tenant.last_owner', message: t('problem.tenant.last_owner'), requestID: 'req-1' })
    expect(shown.detail).toBeUndefined()
  })

  it("falls back to the server's detail for a code it does not know", () => {
    const shown = describeProblem(problem(409, 'deployment.brand_new_rule'), t, te)
    expect(shown.message).toBe('server says so')
  })

  it('keeps the field and the specific detail of bad input', () => {
    const shown = describeProblem(
      problem(422, 'invalid_input', { field: 'username', detail: "'admin' is reserved" }),
      t,
      te,
    )
    expect(shown).toMatchObject({ field: 'username', message: t('problem.invalid_input'), detail: "'admin' is reserved" })
  })

  it('says when the server cannot be reached or is too slow', () => {
    expect(describeProblem(new APITimeoutError(), t, te).message).toBe(t('problem.timeout'))
    expect(describeProblem(new APIConnectionError(), t, te).message).toBe(t('problem.network'))
    expect(describeProblem(new Error('boom'), t, te)).toMatchObject({ message: t('problem.unknown'), detail: 'boom' })
  })
})

describe('the problem code table', () => {
  it.each(KNOWN_PROBLEM_CODES)('translates %s in both locales', (code) => {
    expect(lookup(zhCN, `problem.${code}`), 'zh-CN').toBeTruthy()
    expect(lookup(en, `problem.${code}`), 'en').toBeTruthy()
  })
})
