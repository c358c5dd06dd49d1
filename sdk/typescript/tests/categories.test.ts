import { describe, expect, it } from 'vitest'

import { McpsClient } from '../src'
import { BASE_URL, live } from './support'

describe.skipIf(!live)('client.categories', () => {
  it('lists the twelve categories to anyone', async () => {
    const anonymous = new McpsClient({ baseURL: BASE_URL, maxRetries: 0 })
    const categories = await anonymous.categories.list()
    expect(categories.map((c) => c.category)).toContain('developer-tools')
    expect(categories).toHaveLength(12)
    expect(categories.every((c) => c.count >= 0)).toBe(true)
  })
})
