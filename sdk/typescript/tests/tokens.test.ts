import { describe, expect, it } from 'vitest'

import { McpsClient, PermissionDeniedError } from '../src'
import { BASE_URL, live, signedInPerson } from './support'

describe.skipIf(!live)('client.tokens', () => {
  it('issues a token once, lists it without the secret, and revokes it', async () => {
    const { client, username } = await signedInPerson()
    const issued = await client.tokens.create(username, { name: 'ci', scopes: ['mcp:read'] })
    expect(issued.token).toMatch(/^mcps_/)

    const listed = await client.tokens.list(username)
    expect(listed.map((t) => [t.id, t.name, t.scopes, t.revoked_at])).toEqual([
      [issued.id, 'ci', ['mcp:read'], null],
    ])
    expect(JSON.stringify(listed)).not.toContain(issued.token)

    const machine = new McpsClient({ baseURL: BASE_URL, apiKey: issued.token })
    expect((await machine.tenants.retrieve(username)).role).toBe('viewer')
    await expect(machine.tokens.create(username, { name: 'x', scopes: ['admin'] })).rejects.toBeInstanceOf(
      PermissionDeniedError,
    )

    await client.tokens.revoke(username, issued.id)
    expect((await client.tokens.list(username))[0]?.revoked_at).not.toBeNull()
  })
})
