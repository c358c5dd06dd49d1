import type { AnalyticsReport } from '@mcps/sdk'
import { describe, expect, it } from 'vitest'

import { buckets, rangeOf } from './analytics'

function report(metric: 'calls' | 'cost', points: AnalyticsReport['series'][number]['points']): AnalyticsReport {
  return {
    metric,
    interval: 'hour',
    from: '2026-11-20T10:00:00Z',
    to: '2026-11-20T13:30:00Z',
    group_by: null,
    series: [{ group: null, points }],
    summary: { calls: 0, top_tools: [] },
  }
}

describe('rangeOf', () => {
  it('starts on a whole bucket and ends now', () => {
    const now = new Date('2026-11-20T13:30:00Z')
    expect(rangeOf('day', now)).toEqual({ from: '2026-11-19T13:00:00.000Z', to: now.toISOString(), interval: 'hour' })
    expect(rangeOf('week', now).from).toBe('2026-11-13T00:00:00.000Z')
  })
})

describe('buckets', () => {
  it('puts the points on every bucket of the range, zero where no call was made', () => {
    const calls = report('calls', [
      { t: '2026-11-20T10:00:00Z', calls: 3 },
      { t: '2026-11-20T12:00:00Z', calls: 5 },
    ])
    const cost = report('cost', [
      { t: '2026-11-20T12:00:00Z', calls: 5, cost: '0.0125', currency: 'USD' },
      { t: '2026-11-20T12:00:00Z', calls: 1, cost: '9', currency: 'CNY' },
    ])
    expect(buckets(calls, cost, 'USD').map((b) => [new Date(b.t).toISOString().slice(11, 16), b.calls, b.cost])).toEqual([
      ['10:00', 3, 0],
      ['11:00', 0, 0],
      ['12:00', 5, 0.0125],
      ['13:00', 0, 0],
    ])
  })

  it('is empty before anything loaded', () => {
    expect(buckets(null, null, null)).toEqual([])
  })
})
