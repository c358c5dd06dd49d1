import { describe, expect, it } from 'vitest'

import { codeIn, lastMailTo, live, signedInPerson, uniqueName } from './support'

describe.skipIf(!live)('client.invitations and client.members', () => {
  it('invites by email, the invitee accepts, and becomes a member with the role', async () => {
    const { client: owner } = await signedInPerson('owner')
    const { client: invitee, email, username } = await signedInPerson('invitee')
    const slug = uniqueName('team')
    await owner.tenants.create({ slug, name: 'Team' })

    const issued = await owner.invitations.create(slug, { email, role: 'admin' })
    const pending = await owner.invitations.list(slug)
    expect(pending.map((i) => [i.invitation_id, i.status])).toEqual([
      [issued.invitation_id, 'pending'],
    ])

    // The owner's client has not seen the invitee's write: it waits for its position.
    const accepted = await invitee.invitations.accept(codeIn(await lastMailTo(email)))
    const members = await owner.members.list(slug, { wait_for: accepted.position })
    expect(members.find((m) => m.username === username)?.role).toBe('admin')

    const joined = members.find((m) => m.username === username)!
    await owner.members.update(slug, joined.user_id, { role: 'viewer' })
    expect((await owner.members.list(slug)).find((m) => m.username === username)?.role).toBe('viewer')
    await owner.members.remove(slug, joined.user_id)
    expect((await owner.members.list(slug)).map((m) => m.username)).not.toContain(username)
  })

  it('revokes a pending invitation', async () => {
    const { client } = await signedInPerson()
    const slug = uniqueName('team')
    await client.tenants.create({ slug, name: 'Team' })
    const issued = await client.invitations.create(slug, { email: 'nobody@example.com' })
    await client.invitations.revoke(slug, issued.invitation_id)
    expect((await client.invitations.list(slug))[0]?.status).toBe('revoked')
  })
})
