import { describe, expect, it } from 'vitest'

import { live, signedInPerson } from './support'

describe.skipIf(!live)('client.audit', () => {
  it('pages newest first by cursor and iterates across pages with for await', async () => {
    const { client, username } = await signedInPerson()
    for (const name of ['one', 'two', 'three']) {
      await client.tokens.create(username, { name, scopes: ['mcp:read'] })
    }
    const first = await client.audit.list(username, { limit: 2 })
    expect(first.data).toHaveLength(2)
    expect(first.hasNextPage()).toBe(true)
    const second = await first.getNextPage()
    expect(second.data[0]!.position).toBeLessThan(first.data[1]!.position)

    const all = []
    for await (const entry of await client.audit.list(username, { limit: 2 })) all.push(entry)
    const positions = all.map((e) => e.position)
    expect(positions).toEqual([...positions].sort((a, b) => b - a))
    expect(all.filter((e) => e.event_type.includes('Token')).length).toBeGreaterThanOrEqual(3)
  })

  it('filters by event type prefix', async () => {
    const { client, username } = await signedInPerson()
    await client.tokens.create(username, { name: 'ci', scopes: ['mcp:read'] })
    const page = await client.audit.list(username, { type: 'tenancy.ApiToken' })
    expect(page.data.length).toBeGreaterThan(0)
    expect(page.data.every((e) => e.event_type.startsWith('tenancy.ApiToken'))).toBe(true)
  })
})
