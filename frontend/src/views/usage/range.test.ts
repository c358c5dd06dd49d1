import { describe, expect, it } from 'vitest'

import {
  bucketStarts,
  customRange,
  defaultInterval,
  fitInterval,
  intervalsFor,
  presetRange,
  rangeProblem,
} from './range'

const NOW = new Date('2026-03-10T12:34:56Z')

describe('usage time ranges', () => {
  it('end a preset at the next whole minute, so the current minute shows', () => {
    const range = presetRange('1h', NOW)
    expect(range.to.toISOString()).toBe('2026-03-10T12:35:00.000Z')
    expect(range.from.toISOString()).toBe('2026-03-10T11:35:00.000Z')
  })

  it('offer intervals that give a readable chart, and pick a good one', () => {
    expect(intervalsFor(presetRange('1h', NOW))).toEqual(['minute', 'hour', 'day'])
    expect(intervalsFor(presetRange('7d', NOW))).toEqual(['hour', 'day'])
    expect(intervalsFor(presetRange('90d', NOW))).toEqual(['day'])
    expect(defaultInterval(presetRange('6h', NOW))).toBe('minute')
    expect(defaultInterval(presetRange('24h', NOW))).toBe('hour')
    expect(defaultInterval(presetRange('30d', NOW))).toBe('day')
    expect(fitInterval(presetRange('7d', NOW), 'minute')).toBe('hour')
    expect(fitInterval(presetRange('7d', NOW), 'day')).toBe('day')
  })

  it('lay buckets on UTC boundaries, as the API does', () => {
    const range = { from: new Date('2026-03-10T10:20:00Z'), to: new Date('2026-03-10T12:35:00Z') }
    expect(bucketStarts(range, 'hour')).toEqual([
      '2026-03-10T10:00:00.000Z',
      '2026-03-10T11:00:00.000Z',
      '2026-03-10T12:00:00.000Z',
    ])
    expect(bucketStarts(range, 'minute')).toHaveLength(135)
    expect(bucketStarts(range, 'day')).toEqual(['2026-03-10T00:00:00.000Z'])
  })

  it('take custom dates as whole local days, and say what is wrong with a bad range', () => {
    const range = customRange(new Date(2026, 0, 5, 15).getTime(), new Date(2026, 0, 6, 9).getTime())
    expect(range.from).toEqual(new Date(2026, 0, 5))
    expect(range.to).toEqual(new Date(2026, 0, 7))
    expect(rangeProblem(range)).toBeNull()
    expect(rangeProblem({ from: range.to, to: range.from })).toBe('usage.rangeEmpty')
    expect(rangeProblem({ from: new Date(2020, 0, 1), to: new Date(2026, 0, 1) })).toBe('usage.rangeTooLong')
  })
})
