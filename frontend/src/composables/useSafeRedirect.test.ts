import { describe, expect, it } from 'vitest'

import { safeRedirect } from './useSafeRedirect'

describe('safeRedirect', () => {
  it('accepts paths of this app only', () => {
    expect(safeRedirect({ redirect: '/t/acme/audit?type=x' })).toBe('/t/acme/audit?type=x')
    expect(safeRedirect({ redirect: '//evil.example/x' })).toBeNull()
    expect(safeRedirect({ redirect: '/\\evil.example' })).toBeNull()
    expect(safeRedirect({ redirect: 'https://evil.example' })).toBeNull()
    expect(safeRedirect({ redirect: ['/a', '/b'] })).toBeNull()
    expect(safeRedirect({})).toBeNull()
  })
})
