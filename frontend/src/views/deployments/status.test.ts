import type { Deployment, DeploymentInstance } from '@mcps/sdk'
import { describe, expect, it } from 'vitest'

import { applyChange, configText, countByStatus, FAST_POLL_MS, isSettled, pollDelay, SLOW_POLL_MS, uptime } from './status'

function instance(partial: Partial<DeploymentInstance> = {}): DeploymentInstance {
  return {
    id: 'clock-1',
    replica: 1,
    version: '1.0.0',
    generation: 1,
    health: 'healthy',
    detail: '',
    endpoint: null,
    started_at: '2026-01-01T00:00:00Z',
    health_changed_at: '2026-01-01T00:00:01Z',
    uptime_seconds: 10,
    ...partial,
  }
}

function deployment(partial: Partial<Deployment> = {}): Deployment {
  return {
    id: 'd1',
    name: 'clock',
    service: 'time',
    version: '1.0.0',
    runtime_kind: 'process',
    status: 'running',
    desired: 'running',
    replicas: 1,
    ready_replicas: 1,
    generation: 1,
    last_error: null,
    config: {},
    previous_versions: [],
    autoscaling: null,
    last_autoscaled: null,
    instances: [instance()],
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    ...partial,
  }
}

describe('deployment status', () => {
  it('takes a change from the stream into a list by name: replaced, added in order, removed', () => {
    const list = [deployment({ name: 'b' }), deployment({ name: 'd' })]
    const replaced = applyChange(list, { type: 'deployment', id: '3', deployment: deployment({ name: 'd', status: 'stopped' }) })
    expect(replaced.map((d) => [d.name, d.status])).toEqual([['b', 'running'], ['d', 'stopped']])
    const added = applyChange(replaced, { type: 'deployment', id: '4', deployment: deployment({ name: 'c' }) })
    expect(added.map((d) => d.name)).toEqual(['b', 'c', 'd'])
    expect(applyChange(added, { type: 'deleted', id: '5', deployment: { id: 'd1', name: 'b' } }).map((d) => d.name)).toEqual(['c', 'd'])
    expect(list.map((d) => d.name)).toEqual(['b', 'd']) // the list itself is left as it was
    const older = deployment({ name: 'b', status: 'pending', updated_at: '2025-12-31T00:00:00Z' })
    expect(applyChange(list, { type: 'deployment', id: '6', deployment: older })).toBe(list)
  })

  it('is settled when it runs as asked, is stopped as asked, or has failed', () => {
    expect(isSettled(deployment())).toBe(true)
    expect(isSettled(deployment({ status: 'pending', ready_replicas: 0, instances: [] }))).toBe(false)
    expect(isSettled(deployment({ replicas: 2 }))).toBe(false) // scaling up
    expect(isSettled(deployment({ generation: 2 }))).toBe(false) // rolling to a new generation
    expect(isSettled(deployment({ desired: 'stopped', status: 'running' }))).toBe(false)
    expect(isSettled(deployment({ desired: 'stopped', status: 'stopped', instances: [] }))).toBe(true)
    expect(isSettled(deployment({ status: 'failed', last_error: 'crashed' }))).toBe(true)
  })

  it('asks again soon while anything moves, rarely once all has settled', () => {
    expect(pollDelay(null)).toBe(FAST_POLL_MS)
    expect(pollDelay([deployment()])).toBe(SLOW_POLL_MS)
    expect(pollDelay([deployment(), deployment({ status: 'pending' })])).toBe(FAST_POLL_MS)
  })

  it('counts every status', () => {
    expect(countByStatus([deployment(), deployment({ status: 'failed' }), deployment()])).toEqual({
      running: 2,
      pending: 0,
      degraded: 0,
      stopped: 0,
      failed: 1,
    })
  })

  it('never shows a secret, and reads uptimes shortly', () => {
    expect(configText('********')).toEqual({ text: '••••••••', secret: true })
    expect(configText('UTC')).toEqual({ text: 'UTC', secret: false })
    expect(configText({ a: [1] })).toEqual({ text: '{"a":[1]}', secret: false })
    expect([7, 366, 3 * 3600 + 240, 2 * 86_400 + 7200].map(uptime)).toEqual(['7s', '6m 6s', '3h 4m', '2d 2h'])
  })
})
