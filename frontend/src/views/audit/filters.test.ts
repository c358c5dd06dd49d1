import { describe, expect, it } from 'vitest'

import { auditQuery, NO_FILTERS } from './filters'

describe('auditQuery', () => {
  it('sends only the filters that are set', () => {
    expect(auditQuery(NO_FILTERS)).toEqual({ limit: 50 })
    expect(auditQuery({ ...NO_FILTERS, actor: 'user:1', type: 'tenancy.ApiToken' }, 20)).toEqual({
      limit: 20,
      actor: 'user:1',
      type: 'tenancy.ApiToken',
    })
  })

  it('covers whole local days, the last one included', () => {
    const query = auditQuery({ ...NO_FILTERS, from: '2026-11-01', to: '2026-11-03' })
    expect(new Date(query.since!).getTime()).toBe(new Date(2026, 10, 1).getTime())
    expect(new Date(query.until!).getTime()).toBe(new Date(2026, 10, 4).getTime())
  })
})
