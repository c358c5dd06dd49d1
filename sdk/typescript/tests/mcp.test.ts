import { describe, expect, it } from 'vitest'

import { McpsClient, NotFoundError, UnprocessableEntityError, type CallRecord } from '../src'
import { BASE_URL, live, signedInPerson, uniqueName } from './support'

async function poll<T>(read: () => Promise<T | null>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = await read()
    if (found) return found
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

describe.skipIf(!live)('client.mcp', () => {
  it('lists tools, calls one as a session and as a token, refuses bad params, and shows the history', async () => {
    const { client } = await signedInPerson('gw')
    const slug = uniqueName('gw')
    await client.tenants.create({ slug, name: 'Gateway' })
    await client.deployments.create(slug, { name: 'clock', service: 'time' })
    await poll(async () => {
      const d = await client.deployments.retrieve(slug, 'clock')
      return d.ready_replicas === 1 ? d : null
    })

    const servers = await client.mcp.tools({ tenant: slug })
    expect(servers.map((s) => [s.name, s.service, s.tools_source])).toEqual([['clock', 'time', 'live']])
    const tool = servers[0]?.methods.find((m) => m.name === 'get_current_time')
    expect(tool?.input_schema).toMatchObject({ required: ['timezone'] })
    await expect(client.mcp.tools()).rejects.toMatchObject({ code: 'tenant.not_found' })

    const answer = await client.mcp.call(
      'clock',
      { method: 'get_current_time', params: { timezone: 'Asia/Shanghai' } },
      { tenant: slug, idempotencyKey: 'first' },
    )
    expect(answer.success).toBe(true)
    expect(JSON.stringify(answer.data)).toContain('Asia/Shanghai')
    expect(answer.duration_ms).toBeGreaterThan(0)
    const again = await client.mcp.call(
      'clock',
      { method: 'get_current_time', params: { timezone: 'Asia/Shanghai' } },
      { tenant: slug, idempotencyKey: 'first' },
    )
    expect(again.call_id).toBe(answer.call_id)

    const refused = client.mcp.call('clock', { method: 'get_current_time', params: { timezone: 5 } }, { tenant: slug })
    await expect(refused).rejects.toBeInstanceOf(UnprocessableEntityError)
    await expect(refused).rejects.toMatchObject({
      code: 'gateway.invalid_params',
      errors: [{ field: 'params.timezone', message: expect.stringContaining('string') }],
    })
    await expect(
      client.mcp.call('clock', { method: 'nope', params: {} }, { tenant: slug }),
    ).rejects.toMatchObject({ code: 'gateway.tool_not_found' })
    await expect(client.mcp.status('nowhere', { tenant: slug })).rejects.toBeInstanceOf(NotFoundError)
    expect((await client.mcp.status('clock', { tenant: slug })).healthy_instances).toBe(1)

    const issued = await client.tokens.create(slug, { name: 'bot', scopes: ['mcp:execute'] })
    const bot = new McpsClient({ baseURL: BASE_URL, apiKey: issued.token })
    const byToken = await bot.mcp.call('clock', { method: 'get_current_time', params: { timezone: 'UTC' } })
    expect(byToken.success).toBe(true)

    const calls = await poll(async () => {
      const page = await client.mcp.history({ limit: 1 }, { tenant: slug })
      return page.data.length === 1 && page.hasNextPage() ? page : null
    })
    const newest = calls.data[0] as CallRecord
    expect(newest).toMatchObject({ deployment: 'clock', tool: 'get_current_time', status: 'ok', token_id: issued.id })
    const older = await calls.getNextPage()
    expect(older.data[0]).toMatchObject({ call_id: answer.call_id, token_id: null })

    const report = await client.tenants.analytics(slug, 'calls', { interval: 'minute', group_by: 'token' })
    expect(report.summary.calls).toBe(2)
    expect(report.series.map((s) => s.group).sort()).toEqual([issued.id, 'session'].sort())
    expect(report.summary.top_tools[0]).toMatchObject({ service: 'time', tool: 'get_current_time', calls: 2 })
    const latency = await client.tenants.analytics(slug, 'latency')
    expect(latency.summary.p50_ms).toBeGreaterThan(0)
    await expect(
      client.tenants.analytics(slug, 'calls', { from: new Date().toISOString(), to: new Date(0).toISOString() }),
    ).rejects.toMatchObject({ code: 'analytics.invalid_range', field: 'to' })

    // Async calls: accepted at once, read back as a task, listed newest first.
    const accepted = await bot.mcp.callAsync('clock', { method: 'get_current_time', params: { timezone: 'UTC' } })
    expect(['pending', 'running']).toContain(accepted.status)
    const task = await bot.tasks.wait(accepted.task_id, { intervalMs: 50 })
    expect(task).toMatchObject({ status: 'succeeded', name: 'clock', method: 'get_current_time', attempts: 1 })
    expect(task.result?.success).toBe(true)
    await expect(
      bot.mcp.callAsync('clock', { method: 'get_current_time', params: { timezone: 5 } }),
    ).rejects.toMatchObject({ code: 'gateway.invalid_params' })
    const tasks = await poll(async () => {
      const page = await client.tasks.list({ status: 'succeeded', name: 'clock' }, { tenant: slug })
      return page.data.length === 1 ? page : null
    })
    expect(tasks.data[0]).toMatchObject({ task_id: accepted.task_id, token_id: issued.id, call_id: task.result?.call_id })
    expect(tasks.hasNextPage()).toBe(false)
    await expect(bot.tasks.list({ limit: 0 })).rejects.toMatchObject({ code: 'validation_failed' })
    await client.deployments.delete(slug, 'clock')
  }, 120_000)
})
