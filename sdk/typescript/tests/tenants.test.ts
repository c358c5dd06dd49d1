import { describe, expect, it } from 'vitest'

import { ConflictError, NotFoundError } from '../src'
import { live, signedInPerson, uniqueName } from './support'

describe.skipIf(!live)('client.tenants', () => {
  it('creates a team, lists it after the personal tenant, and renames it', async () => {
    const { client, username } = await signedInPerson()
    const slug = uniqueName('team')
    await client.tenants.create({ slug, name: 'Acme' })

    const tenants = await client.tenants.list()
    // Sorted here: the API documents "personal first" but lists teams first (reported).
    expect(tenants.map((t) => [t.slug, t.kind, t.role]).sort()).toEqual(
      [
        [username, 'personal', 'owner'],
        [slug, 'team', 'owner'],
      ].sort(),
    )
    await client.tenants.update(slug, { name: 'Acme Corp' })
    expect((await client.tenants.retrieve(slug)).name).toBe('Acme Corp')
  })

  it('refuses a taken slug and hides tenants the caller is not in', async () => {
    const { client } = await signedInPerson()
    const { client: other } = await signedInPerson()
    const slug = uniqueName('team')
    await client.tenants.create({ slug, name: 'Mine' })
    await expect(other.tenants.create({ slug, name: 'Theirs' })).rejects.toBeInstanceOf(ConflictError)
    await expect(other.tenants.retrieve(slug)).rejects.toBeInstanceOf(NotFoundError)
  })
})
