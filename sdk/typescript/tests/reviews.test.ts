import { describe, expect, it } from 'vitest'

import { McpsClient } from '../src'
import { BASE_URL, live, signedInPerson, uniqueName } from './support'

describe.skipIf(!live)('client.reviews', () => {
  it('posts one review per person, edits it, pages them and removes it', async () => {
    const publisher = await signedInPerson('pub')
    const name = uniqueName('rated')
    await publisher.client.services.create({ name, display_name: 'Rated' })
    await publisher.client.services.release(name, {
      version: '1.0.0',
      runtime: { kind: 'remote', url: 'https://mcp.example.com/mcp' },
    })
    await publisher.client.services.publish(name)

    const ada = await signedInPerson('rev')
    const bob = await signedInPerson('rev')
    await ada.client.reviews.create(name, { rating: 4, comment: 'good' })
    await expect(ada.client.reviews.create(name, { rating: 5 })).rejects.toMatchObject({ code: 'review.exists' })
    await bob.client.reviews.create(name, { rating: 2, comment: 'meh' })
    await ada.client.reviews.update(name, { rating: 5, comment: 'great' })

    const anonymous = new McpsClient({ baseURL: BASE_URL, maxRetries: 0 })
    const first = await anonymous.reviews.list(name, { limit: 1 }, { wait_for: ada.client.position })
    expect(first.data).toHaveLength(1)
    const all: [string, number, string, boolean][] = []
    for await (const review of first) all.push([review.username, review.rating, review.comment, review.has_deployed])
    expect(all.sort()).toEqual(
      [
        [ada.username, 5, 'great', false],
        [bob.username, 2, 'meh', false],
      ].sort(),
    )
    const service = await anonymous.services.retrieve(name, { wait_for: ada.client.position })
    expect(service.rating.histogram).toMatchObject({ '2': 1, '5': 1 })

    await ada.client.reviews.delete(name)
    const left = await ada.client.reviews.list(name)
    expect(left.data.map((r) => r.username)).toEqual([bob.username])
  })
})
