import { describe, expect, it } from 'vitest'

import { McpsClient } from '../src'
import { BASE_URL, live, PASSWORD, signedInPerson, uniqueName } from './support'

/** The server under test lists this address as a platform operator (tests/support.py). */
const OPERATOR_EMAIL = 'ops@mcps.one'

async function operator(): Promise<McpsClient> {
  const client = new McpsClient({ baseURL: BASE_URL, maxRetries: 0 })
  await client.auth.register({ email: OPERATOR_EMAIL, username: uniqueName('ops'), password: PASSWORD })
  await client.auth.login({ email: OPERATOR_EMAIL, password: PASSWORD })
  return client
}

describe.skipIf(!live)('client.admin', () => {
  it('lists tenants and reviews for operators, who suspend, feature and moderate', async () => {
    const ops = await operator()
    const ada = await signedInPerson('adm')
    const bob = await signedInPerson('adm')
    expect(await ops.admin.access()).toEqual({ platform_admin: true })
    expect(await ada.client.admin.access()).toEqual({ platform_admin: false })
    await expect(ada.client.admin.tenants.list()).rejects.toMatchObject({
      status: 403,
      code: 'platform.admin_required',
    })

    // Tenants: search, status and paging with `for await`.
    const found = await ops.admin.tenants.list({ q: ada.username }, { wait_for: bob.client.position })
    expect(found.data.map((t) => [t.slug, t.kind, t.member_count, t.status])).toEqual([
      [ada.username, 'personal', 1, 'active'],
    ])
    const suspended = await ops.tenants.suspend(ada.username, 'testing the console')
    const now = await ops.admin.tenants.list({ status: 'suspended' }, { wait_for: suspended.position })
    expect(now.data.map((t) => t.slug)).toContain(ada.username)
    await ops.tenants.reactivate(ada.username)
    const slugs: string[] = []
    for await (const tenant of await ops.admin.tenants.list({ limit: 1 })) slugs.push(tenant.slug)
    expect(new Set(slugs).size).toBe(slugs.length)
    expect(slugs).toEqual(expect.arrayContaining([ada.username, bob.username]))

    // A published service: featured and unfeatured, reviewed and moderated.
    const publisher = await signedInPerson('pub')
    const name = uniqueName('moderated')
    await publisher.client.services.create({ name, display_name: 'Moderated' })
    await publisher.client.services.release(name, {
      version: '1.0.0',
      runtime: { kind: 'remote', url: 'https://mcp.example.com/mcp' },
    })
    await publisher.client.services.publish(name)
    const featured = await ops.services.feature(name)
    const front = await ops.services.list({ featured: true }, { wait_for: featured.position })
    expect(front.data.map((s) => s.name)).toContain(name)
    await ops.services.feature(name, false)

    await ada.client.reviews.create(name, { rating: 1, comment: 'spam spam' })
    await bob.client.reviews.create(name, { rating: 5, comment: 'great' })
    const reviews = await ops.admin.reviews.list({ service: name }, { wait_for: bob.client.position })
    expect(reviews.data.map((r) => [r.username, r.rating, r.service])).toEqual([
      [bob.username, 5, name],
      [ada.username, 1, name],
    ])
    const spam = reviews.data[1]!
    const removed = await ops.reviews.remove(name, spam.reviewer_id, 'spam')
    const left = await ops.admin.reviews.list({ service: name }, { wait_for: removed.position })
    expect(left.data.map((r) => r.username)).toEqual([bob.username])
    const oneStar = await ops.admin.reviews.list({ service: name, rating: 1 })
    expect(oneStar.data).toEqual([])
  })
})
