import { describe, expect, it } from 'vitest'

import { ConflictError, McpsClient, NotFoundError } from '../src'
import { BASE_URL, live, signedInPerson, uniqueName } from './support'

const RUNTIME = {
  kind: 'process' as const,
  package: { registry: 'pypi', name: 'mcp-server-time', version: '2025.9.25' },
  command: 'mcp-server-time',
  args: ['--local-timezone', '{{config.timezone}}'],
}
const CONFIG_SCHEMA = {
  type: 'object',
  properties: { timezone: { type: 'string', default: 'UTC' }, token: { type: 'string', writeOnly: true } },
}

describe.skipIf(!live)('client.services', () => {
  it('drafts, releases and publishes a service that anyone then finds and reads', async () => {
    const { client, username } = await signedInPerson('svc')
    const name = uniqueName('clock')
    await client.services.create({
      name,
      display_name: 'Clock 时钟',
      description: '世界时间转换 for every **timezone**',
      category: 'productivity',
      tags: ['time'],
      pricing: { model: 'FREE' },
    })
    // A draft is its tenant's alone.
    const anonymous = new McpsClient({ baseURL: BASE_URL, maxRetries: 0 })
    await expect(anonymous.services.retrieve(name, { wait_for: client.position })).rejects.toBeInstanceOf(NotFoundError)
    const mine = await client.services.list({ publisher: username })
    expect(mine.data.map((s) => [s.name, s.status])).toEqual([[name, 'draft']])

    await expect(
      client.services.release(name, { version: 'one', runtime: RUNTIME, config_schema: CONFIG_SCHEMA }),
    ).rejects.toMatchObject({ code: 'validation_failed', field: 'version' })
    await client.services.release(name, {
      version: '1.0.0',
      changelog: 'First',
      runtime: RUNTIME,
      config_schema: CONFIG_SCHEMA,
      tools: [{ name: 'get_current_time', description: 'Now', input_schema: { type: 'object' } }],
    })
    await expect(
      client.services.release(name, { version: '0.9.0', runtime: RUNTIME, config_schema: CONFIG_SCHEMA }),
    ).rejects.toMatchObject({ code: 'service.version_not_increasing' })
    await client.services.publish(name)
    await client.services.update(name, { tags: ['time', 'clock'] })

    // Another client reads after this one's writes by naming their log position.
    const after = { wait_for: client.position }
    const found = await anonymous.services.list({ q: '时间', publisher: username }, after)
    expect(found.data.map((s) => s.name)).toEqual([name])
    expect(found.total).toBe(1)
    expect(found.facets.category).toEqual([{ value: 'productivity', count: 1 }])
    expect((await anonymous.services.list({ q: name.slice(0, 7), publisher: username }, after)).data[0]?.name).toBe(name)

    const service = await anonymous.services.retrieve(name, after)
    expect(service).toMatchObject({ status: 'published', tags: ['time', 'clock'], latest_version: '1.0.0' })
    expect(service.latest_release?.tools.map((t) => t.name)).toEqual(['get_current_time'])
    const versions = await anonymous.services.versions(name, after)
    expect(versions.map((v) => [v.version, v.changelog])).toEqual([['1.0.0', 'First']])

    await client.services.deprecate(name, { reason: 'use another' })
    expect((await client.services.retrieve(name)).status).toBe('deprecated')
    await client.services.unpublish(name)
    await expect(anonymous.services.retrieve(name, { wait_for: client.position })).rejects.toBeInstanceOf(NotFoundError)
  })

  it('pages search results with a cursor, and refuses a name that is taken', async () => {
    const { client, username } = await signedInPerson('svc')
    const names = [uniqueName('page'), uniqueName('page'), uniqueName('page')]
    for (const name of names) await client.services.create({ name, display_name: name })
    const first = await client.services.list({ publisher: username, sort: 'newest', limit: 2 })
    expect(first.data).toHaveLength(2)
    expect(first.hasNextPage()).toBe(true)
    const seen: string[] = []
    for await (const hit of first) seen.push(hit.name)
    expect(seen.sort()).toEqual([...names].sort())
    await expect(client.services.create({ name: names[0]!, display_name: 'again' })).rejects.toBeInstanceOf(
      ConflictError,
    )
  })

  it("shows the publisher its service's analytics, and no one else", async () => {
    const { client } = await signedInPerson('svc')
    const name = uniqueName('stats')
    await client.services.create({ name, display_name: 'Stats' })
    const report = await client.services.analytics(name, 'calls', { interval: 'hour' })
    expect(report).toMatchObject({ metric: 'calls', interval: 'hour' })
    expect(report.summary.calls).toBe(0)
    const other = await signedInPerson('svc')
    await expect(other.client.services.analytics(name, 'calls')).rejects.toBeInstanceOf(NotFoundError)
  })
})
