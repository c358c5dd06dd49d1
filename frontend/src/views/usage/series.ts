/**
 * Usage reports made ready to draw: every series laid on the same buckets (a bucket without
 * calls is absent from the API's answer), the biggest groups kept and the rest folded into
 * one, and money kept apart by currency (amounts in two currencies are never added).
 */
import type { AnalyticsReport } from '@mcps/sdk'

type Point = AnalyticsReport['series'][number]['points'][number]

/** One line (or bar stack) of a chart: a name, and a value per bucket. */
export interface ChartSeries {
  /** The group (deployment, `service/tool`, token id, `session`), or null when ungrouped. */
  group: string | null
  /** What the series measures, e.g. `calls`, `p95_ms`, or a currency for cost. */
  measure: string
  data: (number | null)[]
}

export const OTHERS = '\u0000others'

/** What each metric draws, and whether a missing bucket is zero (counts) or a gap (latency). */
const MEASURES = {
  calls: { measures: ['calls'], emptyIsZero: true },
  latency: { measures: ['p50_ms', 'p95_ms', 'p99_ms'], emptyIsZero: false },
  errors: { measures: ['error_rate'], emptyIsZero: true },
  cost: { measures: ['cost'], emptyIsZero: true },
} as const

function valueOf(point: Point, measure: string): number | null {
  const raw = (point as Record<string, unknown>)[measure]
  if (raw === null || raw === undefined) return null
  const value = typeof raw === 'string' ? Number(raw) : (raw as number)
  return Number.isFinite(value) ? value : null
}

/**
 * The report's series on `buckets` (ISO bucket starts). Ungrouped latency gives p50, p95 and
 * p99; grouped latency gives each group's p95. Cost gives one series per group and currency.
 */
export function alignSeries(report: AnalyticsReport, buckets: string[]): ChartSeries[] {
  const index = new Map(buckets.map((bucket, i) => [new Date(bucket).getTime(), i]))
  const { measures, emptyIsZero } = MEASURES[report.metric]
  const wanted = report.metric === 'latency' && report.group_by ? ['p95_ms'] : [...measures]
  const out = new Map<string, ChartSeries>()
  for (const series of report.series) {
    for (const point of series.points) {
      const slot = point.t ? index.get(new Date(point.t).getTime()) : undefined
      if (slot === undefined) continue
      for (const measure of wanted) {
        const name = report.metric === 'cost' ? (point.currency ?? '') : measure
        const key = `${series.group ?? ''}\u0000${name}`
        let line = out.get(key)
        if (!line) {
          line = { group: series.group, measure: name, data: buckets.map(() => (emptyIsZero ? 0 : null)) }
          out.set(key, line)
        }
        line.data[slot] = valueOf(point, measure) ?? (emptyIsZero ? 0 : null)
      }
    }
  }
  if (out.size === 0 && !report.group_by && report.metric !== 'cost') {
    return wanted.map((measure) => ({ group: null, measure, data: buckets.map(() => (emptyIsZero ? 0 : null)) }))
  }
  return [...out.values()]
}

function total(series: ChartSeries): number {
  return series.data.reduce<number>((sum, value) => sum + (value ?? 0), 0)
}

/**
 * At most `keep` groups per measure, biggest first; the others summed into one `OTHERS`
 * series where sums mean something (calls, cost), dropped where they do not (latency, rates).
 */
export function topGroups(series: ChartSeries[], keep: number, additive: boolean): ChartSeries[] {
  const byMeasure = new Map<string, ChartSeries[]>()
  for (const line of series) byMeasure.set(line.measure, [...(byMeasure.get(line.measure) ?? []), line])
  const result: ChartSeries[] = []
  for (const [measure, lines] of byMeasure) {
    const sorted = [...lines].sort((a, b) => total(b) - total(a))
    result.push(...sorted.slice(0, keep))
    const rest = sorted.slice(keep)
    if (rest.length && additive) {
      const data = rest[0]!.data.map((_, i) => rest.reduce((sum, line) => sum + (line.data[i] ?? 0), 0))
      result.push({ group: OTHERS, measure, data })
    }
  }
  return result
}

/** The sum of a decimal-string amount per currency, e.g. the month's spend by currency. */
export function moneyTotals(report: AnalyticsReport): { currency: string; amount: string; calls: number }[] {
  const summary = report.summary
  const totals = summary.totals?.length ? summary.totals : summary.cost ? [summary] : []
  return totals
    .filter((entry) => entry.currency)
    .map((entry) => ({ currency: entry.currency as string, amount: entry.cost ?? '0', calls: entry.calls }))
}
