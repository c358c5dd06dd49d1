import type { AnalyticsReport } from '@mcps/sdk'
import { describe, expect, it } from 'vitest'

import { alignSeries, moneyTotals, OTHERS, topGroups } from './series'

const BUCKETS = ['2026-03-10T10:00:00.000Z', '2026-03-10T11:00:00.000Z', '2026-03-10T12:00:00.000Z']

function report(partial: Partial<AnalyticsReport>): AnalyticsReport {
  return {
    metric: 'calls',
    interval: 'hour',
    from: BUCKETS[0]!,
    to: '2026-03-10T13:00:00Z',
    group_by: null,
    series: [],
    summary: { calls: 0, top_tools: [] },
    ...partial,
  }
}

describe('usage series', () => {
  it('put every group on the same buckets; a bucket without calls is zero', () => {
    const calls = report({
      group_by: 'deployment',
      series: [
        { group: 'clock', points: [{ t: '2026-03-10T11:00:00Z', calls: 3 }] },
        { group: 'toy', points: [{ t: '2026-03-10T10:00:00Z', calls: 1 }, { t: '2026-03-10T12:00:00Z', calls: 2 }] },
      ],
    })
    expect(alignSeries(calls, BUCKETS)).toEqual([
      { group: 'clock', measure: 'calls', data: [0, 3, 0] },
      { group: 'toy', measure: 'calls', data: [1, 0, 2] },
    ])
  })

  it('leave gaps in latency, with p50/p95/p99 ungrouped and p95 per group', () => {
    const point = { t: '2026-03-10T11:00:00Z', calls: 2, p50_ms: 5, p95_ms: 9, p99_ms: 12 }
    const latency = report({ metric: 'latency', series: [{ group: null, points: [point] }] })
    expect(alignSeries(latency, BUCKETS)).toEqual([
      { group: null, measure: 'p50_ms', data: [null, 5, null] },
      { group: null, measure: 'p95_ms', data: [null, 9, null] },
      { group: null, measure: 'p99_ms', data: [null, 12, null] },
    ])
    const grouped = report({ metric: 'latency', group_by: 'tool', series: [{ group: 'time/now', points: [point] }] })
    expect(alignSeries(grouped, BUCKETS)).toEqual([{ group: 'time/now', measure: 'p95_ms', data: [null, 9, null] }])
    expect(alignSeries(report({ metric: 'latency' }), BUCKETS)).toHaveLength(3)
  })

  it('keep money apart by currency, and total it per currency', () => {
    const cost = report({
      metric: 'cost',
      series: [
        {
          group: null,
          points: [
            { t: '2026-03-10T10:00:00Z', calls: 4, cost: '0.0100', currency: 'USD' },
            { t: '2026-03-10T10:00:00Z', calls: 1, cost: '0.5000', currency: 'EUR' },
          ],
        },
      ],
      summary: {
        calls: 5,
        top_tools: [],
        totals: [
          { calls: 4, cost: '0.0100', currency: 'USD' },
          { calls: 1, cost: '0.5000', currency: 'EUR' },
        ],
      },
    })
    expect(alignSeries(cost, BUCKETS)).toEqual([
      { group: null, measure: 'USD', data: [0.01, 0, 0] },
      { group: null, measure: 'EUR', data: [0.5, 0, 0] },
    ])
    expect(moneyTotals(cost)).toEqual([
      { currency: 'USD', amount: '0.0100', calls: 4 },
      { currency: 'EUR', amount: '0.5000', calls: 1 },
    ])
    expect(moneyTotals(report({ metric: 'cost' }))).toEqual([])
  })

  it('keep the biggest groups and fold the rest into one where sums mean something', () => {
    const lines = [1, 5, 3, 2].map((n, i) => ({ group: `g${i}`, measure: 'calls', data: [n, n] }))
    expect(topGroups(lines, 2, true)).toEqual([
      { group: 'g1', measure: 'calls', data: [5, 5] },
      { group: 'g2', measure: 'calls', data: [3, 3] },
      { group: OTHERS, measure: 'calls', data: [3, 3] },
    ])
    expect(topGroups(lines, 2, false).map((line) => line.group)).toEqual(['g1', 'g2'])
  })
})
