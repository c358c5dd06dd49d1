/**
 * The usage page's time range: presets (last hour … last 90 days) or custom dates, the
 * bucket sizes that make sense for it, and the buckets themselves. Buckets start on UTC
 * minutes, hours and days, as the API's do.
 */

export type Interval = 'minute' | 'hour' | 'day'
export type RangePreset = '1h' | '6h' | '24h' | '7d' | '30d' | '90d'

export interface TimeRange {
  from: Date
  to: Date
}

export const PRESETS: RangePreset[] = ['1h', '6h', '24h', '7d', '30d', '90d']
export const INTERVALS: Interval[] = ['minute', 'hour', 'day']

const MINUTE = 60_000
const STEP: Record<Interval, number> = { minute: MINUTE, hour: 60 * MINUTE, day: 24 * 60 * MINUTE }
const PRESET_MS: Record<RangePreset, number> = {
  '1h': STEP.hour,
  '6h': 6 * STEP.hour,
  '24h': STEP.day,
  '7d': 7 * STEP.day,
  '30d': 30 * STEP.day,
  '90d': 90 * STEP.day,
}
/** The API's limit on buckets per answer; a chart wants far fewer. */
export const MAX_BUCKETS = 10_000
/** Beyond this many points a chart is a smear: finer intervals are not offered. */
const MAX_POINTS = 1500
/** The API's longest range. */
export const MAX_RANGE_MS = 400 * STEP.day

export function isPreset(value: unknown): value is RangePreset {
  return PRESETS.includes(value as RangePreset)
}

export function isInterval(value: unknown): value is Interval {
  return INTERVALS.includes(value as Interval)
}

/** The preset's range ending now (to the next whole minute, so the current one shows). */
export function presetRange(preset: RangePreset, now: Date = new Date()): TimeRange {
  const to = new Date(Math.ceil((now.getTime() + 1) / MINUTE) * MINUTE)
  return { from: new Date(to.getTime() - PRESET_MS[preset]), to }
}

/** The intervals worth offering for a range: not so fine that the chart turns to dust. */
export function intervalsFor(range: TimeRange): Interval[] {
  const span = range.to.getTime() - range.from.getTime()
  return INTERVALS.filter((interval) => span / STEP[interval] <= MAX_POINTS || interval === 'day')
}

/** A good default bucket for a range: minutes up to 6 hours, hours up to a week, else days. */
export function defaultInterval(range: TimeRange): Interval {
  const span = range.to.getTime() - range.from.getTime()
  if (span <= 6 * STEP.hour) return 'minute'
  if (span <= 7 * STEP.day) return 'hour'
  return 'day'
}

/** `interval` if it suits the range, else the default for it. */
export function fitInterval(range: TimeRange, interval: Interval): Interval {
  return intervalsFor(range).includes(interval) ? interval : defaultInterval(range)
}

function floorTo(time: number, interval: Interval): number {
  return Math.floor(time / STEP[interval]) * STEP[interval]
}

/** The UTC start of every bucket the range touches, oldest first (as ISO strings). */
export function bucketStarts(range: TimeRange, interval: Interval, limit = MAX_BUCKETS): string[] {
  const starts: string[] = []
  const end = range.to.getTime()
  for (let t = floorTo(range.from.getTime(), interval); t < end && starts.length < limit; t += STEP[interval]) {
    starts.push(new Date(t).toISOString())
  }
  return starts
}

/** A custom range from a date picker's [start, end] (local days, end day included). */
export function customRange(start: number, end: number): TimeRange {
  const from = new Date(start)
  from.setHours(0, 0, 0, 0)
  const to = new Date(end)
  to.setHours(24, 0, 0, 0)
  return { from, to }
}

/** What is wrong with a custom range, if anything (a translation key). */
export function rangeProblem(range: TimeRange): 'usage.rangeEmpty' | 'usage.rangeTooLong' | null {
  const span = range.to.getTime() - range.from.getTime()
  if (span <= 0) return 'usage.rangeEmpty'
  if (span > MAX_RANGE_MS) return 'usage.rangeTooLong'
  return null
}

/** The start of today and of this month in the reader's time zone. */
export function startOfToday(now: Date = new Date()): Date {
  return new Date(now.getFullYear(), now.getMonth(), now.getDate())
}

export function startOfMonth(now: Date = new Date()): Date {
  return new Date(now.getFullYear(), now.getMonth(), 1)
}
