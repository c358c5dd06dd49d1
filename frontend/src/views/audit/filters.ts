import type { AuditListParams } from '@mcps/sdk'

/** What the audit log is narrowed to; `from` and `to` are local calendar days (YYYY-MM-DD). */
export interface AuditFilters {
  actor: string | null
  type: string | null
  from: string | null
  to: string | null
}

export const NO_FILTERS: AuditFilters = { actor: null, type: null, from: null, to: null }

/** The API's query for the filters: the day range covers whole local days, both included. */
export function auditQuery(filters: AuditFilters, limit = 50): AuditListParams {
  const params: AuditListParams = { limit }
  if (filters.actor) params.actor = filters.actor
  if (filters.type) params.type = filters.type
  if (filters.from) params.since = localDay(filters.from).toISOString()
  if (filters.to) {
    const end = localDay(filters.to)
    end.setDate(end.getDate() + 1)
    params.until = end.toISOString()
  }
  return params
}

function localDay(day: string): Date {
  const [year = 1970, month = 1, date = 1] = day.split('-').map(Number)
  return new Date(year, month - 1, date)
}
