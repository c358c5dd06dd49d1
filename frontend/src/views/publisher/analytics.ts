/**
 * A publisher's usage charts: the time range asked for, and the API's series (which leave
 * buckets without calls out) laid onto every bucket of the range, so the chart shows gaps as
 * zeros.
 */
import type { AnalyticsReport } from '@mcps/sdk'

export const RANGES = {
  day: { hours: 24, interval: 'hour' },
  week: { hours: 24 * 7, interval: 'day' },
  month: { hours: 24 * 30, interval: 'day' },
} as const
export type Range = keyof typeof RANGES

const STEP_MS = { hour: 3_600_000, day: 86_400_000 } as const

/** The range ending now, its start rounded down to a whole bucket (UTC), as the API buckets. */
export function rangeOf(range: Range, now = new Date()): { from: string; to: string; interval: 'hour' | 'day' } {
  const { hours, interval } = RANGES[range]
  const step = STEP_MS[interval]
  const start = Math.floor((now.getTime() - hours * 3_600_000) / step) * step
  return { from: new Date(start).toISOString(), to: now.toISOString(), interval }
}

export interface Bucket {
  t: number
  calls: number
  cost: number
}

/** One bucket per step from `from` to `to`, with calls and (one currency's) cost. */
export function buckets(
  calls: AnalyticsReport | null,
  cost: AnalyticsReport | null,
  currency: string | null,
): Bucket[] {
  const report = calls ?? cost
  if (!report) return []
  const step = STEP_MS[report.interval === 'minute' ? 'hour' : report.interval]
  const start = Math.floor(new Date(report.from).getTime() / step) * step
  const end = new Date(report.to).getTime()
  const out = new Map<number, Bucket>()
  for (let t = start; t < end; t += step) out.set(t, { t, calls: 0, cost: 0 })
  const at = (value: string | null | undefined) => (value ? Math.floor(new Date(value).getTime() / step) * step : NaN)
  for (const point of calls?.series[0]?.points ?? []) {
    const bucket = out.get(at(point.t))
    if (bucket) bucket.calls = point.calls
  }
  for (const point of cost?.series[0]?.points ?? []) {
    const bucket = out.get(at(point.t))
    if (bucket && (currency === null || point.currency === currency)) bucket.cost += Number(point.cost ?? 0)
  }
  return [...out.values()]
}
