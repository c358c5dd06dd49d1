import { CursorPage } from '../pagination'
import { APIResource } from '../resource'
import type { AuditEntry, AuditListParams } from '../types'

/** A tenant's audit log: who did what, when and from where. */
export class Audit extends APIResource {
  /**
   * One page of the log, newest first (admins and owners). Filter by `actor`, event `type`
   * prefix and a `since`/`until` time range; `for await` over the page reads older pages too.
   */
  async list(
    slug: string,
    params: AuditListParams = {},
    options?: { signal?: AbortSignal },
  ): Promise<CursorPage<AuditEntry>> {
    const body = await this.client._unwrap(
      this.client._http.GET('/api/v1/tenants/{slug}/audit', {
        params: { path: { slug }, query: withoutEmpty(params) },
        signal: options?.signal,
      }),
    )
    return new CursorPage(body, (cursor) => this.list(slug, { ...params, cursor }, options))
  }
}

/** Drop unset filters, so the URL carries only what was asked. */
function withoutEmpty(params: AuditListParams): AuditListParams {
  return Object.fromEntries(
    Object.entries(params).filter(([, value]) => value !== undefined && value !== null && value !== ''),
  ) as AuditListParams
}
