import { describe, expect, it } from 'vitest'

import {
  ConflictError,
  NotFoundError,
  UnprocessableEntityError,
  type Deployment,
  type DeploymentEvent,
  type McpsClient,
} from '../src'
import { live, signedInPerson, uniqueName } from './support'

/** Poll until `check` says yes (the deployer acts after the command is durable). */
async function eventually(
  client: McpsClient,
  slug: string,
  name: string,
  check: (d: Deployment) => boolean,
  timeoutMs = 60_000,
): Promise<Deployment> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const deployment = await client.deployments.retrieve(slug, name)
    if (check(deployment)) return deployment
    if (Date.now() > deadline) throw new Error(`timed out: ${JSON.stringify(deployment)}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

const healthy = (d: Deployment) => d.status === 'running' && d.ready_replicas === d.replicas

describe.skipIf(!live)('client.deployments', () => {
  it('deploys the time server, runs it healthy, scales, stops, batches and deletes', async () => {
    const { client } = await signedInPerson('dep')
    const slug = uniqueName('ops')
    await client.tenants.create({ slug, name: 'Ops' })

    await client.deployments.create(slug, { name: 'clock', service: 'time', config: { local_timezone: 'UTC' } })
    const listed = await client.deployments.list(slug)
    expect(listed.data.map((d) => [d.name, d.service, d.desired])).toEqual([['clock', 'time', 'running']])
    await expect(client.deployments.create(slug, { name: 'clock', service: 'time' })).rejects.toBeInstanceOf(
      ConflictError,
    )
    await expect(
      client.deployments.create(slug, { name: 'bad', service: 'time', config: { local_timezone: 5 } }),
    ).rejects.toMatchObject({ code: 'deployment.invalid_config', field: 'config.local_timezone' })
    await expect(client.deployments.create(slug, { name: 'many', service: 'time', replicas: 99 })).rejects.toBeInstanceOf(
      UnprocessableEntityError,
    )

    const running = await eventually(client, slug, 'clock', healthy)
    expect(running.instances.map((i) => i.health)).toEqual(['healthy'])

    await client.deployments.scale(slug, 'clock', { replicas: 2 })
    await eventually(client, slug, 'clock', (d) => d.replicas === 2 && healthy(d))

    await expect(
      client.deployments.autoscale(slug, 'clock', { min_replicas: 3, max_replicas: 2, target_in_flight: 1 }),
    ).rejects.toMatchObject({ code: 'deployment.invalid_autoscaling', field: 'min_replicas' })
    await client.deployments.autoscale(slug, 'clock', { min_replicas: 1, max_replicas: 2, target_in_flight: 4 })
    const autoscaled = await client.deployments.retrieve(slug, 'clock')
    expect(autoscaled.autoscaling).toEqual({ min_replicas: 1, max_replicas: 2, target_in_flight: 4 })
    await client.deployments.stopAutoscaling(slug, 'clock')
    expect((await client.deployments.retrieve(slug, 'clock')).autoscaling).toBeNull()

    await client.deployments.stop(slug, 'clock')
    const stopped = await eventually(client, slug, 'clock', (d) => d.status === 'stopped' && d.instances.length === 0)
    expect(stopped.desired).toBe('stopped')
    await expect(client.deployments.rollback(slug, 'clock')).rejects.toMatchObject({ code: 'deployment.invalid_state' })

    const batch = await client.deployments.batch(slug, { action: 'start', names: ['clock', 'nowhere'] })
    expect(batch.results.map((r) => [r.name, r.ok, r.code ?? null])).toEqual([
      ['clock', true, null],
      ['nowhere', false, 'deployment.not_found'],
    ])
    expect([batch.succeeded, batch.failed]).toEqual([1, 1])
    await eventually(client, slug, 'clock', healthy)

    await client.deployments.delete(slug, 'clock')
    await expect(client.deployments.retrieve(slug, 'clock')).rejects.toBeInstanceOf(NotFoundError)
  }, 180_000)

  it('reads a deployment’s logs, and follows them live until cancelled', async () => {
    const { client } = await signedInPerson('logs')
    const slug = uniqueName('logs')
    await client.tenants.create({ slug, name: 'Logs' })
    const since = new Date(Date.now() - 60_000).toISOString()
    await client.deployments.create(slug, { name: 'clock', service: 'time' })

    const stop = new AbortController()
    const lines = []
    const started = Date.now()
    try {
      for await (const line of client.deployments.followLogs(slug, 'clock', { since }, { signal: stop.signal })) {
        lines.push(line)
        if (lines.length === 1) stop.abort()
      }
    } catch (error) {
      if (!stop.signal.aborted) throw error
    }
    expect(lines[0]).toMatchObject({ instance: expect.stringContaining('clock') })
    expect(Date.now() - started).toBeLessThan(60_000)

    const read = await client.deployments.logs(slug, 'clock', { since, limit: 5 })
    expect(read.length).toBeGreaterThan(0)
    expect(read[0]?.at).toBe(lines[0]?.at)
    await expect(client.deployments.logs('no-such-tenant-here', 'clock')).rejects.toBeInstanceOf(NotFoundError)
    await client.deployments.delete(slug, 'clock')
  }, 120_000)

  it('follows a tenant’s deployments as they change, and resumes after the last event', async () => {
    const { client } = await signedInPerson('follow')
    const slug = uniqueName('follow')
    await client.tenants.create({ slug, name: 'Follow' })
    await client.deployments.create(slug, { name: 'clock', service: 'time' })
    const stop = new AbortController()
    const seen: DeploymentEvent[] = []
    try {
      // The stream opens with the current rows: the deployment, then its changes.
      for await (const change of client.deployments.followAll(slug, { signal: stop.signal })) {
        seen.push(change)
        if (seen.length === 1) await client.deployments.stop(slug, 'clock')
        if (change.type === 'deployment' && change.deployment.status === 'stopped') stop.abort()
      }
    } catch (error) {
      if (!stop.signal.aborted) throw error
    }
    expect(seen.at(-1)).toMatchObject({ type: 'deployment', deployment: { name: 'clock', status: 'stopped' } })
    const last = seen.at(-1)?.id ?? ''
    expect(Number(last)).toBeGreaterThan(0)

    await client.deployments.delete(slug, 'clock')
    const resumed = new AbortController()
    for await (const change of client.deployments.follow(slug, 'clock', { lastEventId: last, signal: resumed.signal })) {
      expect(change).toMatchObject({ type: 'deleted', deployment: { name: 'clock' } })
      expect(Number(change.id)).toBeGreaterThan(Number(last))
      resumed.abort()
      break
    }
    await expect(client.deployments.followAll('no-such-tenant-here').next()).rejects.toBeInstanceOf(NotFoundError)
  }, 120_000)
})
