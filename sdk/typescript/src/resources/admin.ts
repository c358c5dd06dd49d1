import { CursorPage } from '../pagination'
import { APIResource, waitFor } from '../resource'
import type {
  AdminAccess,
  AdminReview,
  AdminReviewListParams,
  AdminTenant,
  AdminTenantListParams,
  ReadOptions,
} from '../types'

/**
 * The platform operators' console. Its reads cross tenants, so they answer operators only
 * (a signed-in session whose email the server lists; `platform.admin_required` for others).
 * Operators act through the ordinary resources: `client.tenants.suspend`,
 * `client.services.feature`, `client.reviews.remove`.
 */
export class Admin extends APIResource {
  /** Every tenant, with its member count and status. */
  readonly tenants: AdminTenants = new AdminTenants(this.client)
  /** Visible reviews of every service, to moderate. */
  readonly reviews: AdminReviews = new AdminReviews(this.client)

  /** Whether the caller may open the console (false for anyone else, API tokens included). */
  access(options?: { signal?: AbortSignal }): Promise<AdminAccess> {
    return this.client._unwrap(
      this.client._http.GET('/api/v1/admin/access', { signal: options?.signal }),
    )
  }
}

/** Every tenant of the platform, for operators. */
export class AdminTenants extends APIResource {
  /** Personal and team tenants, newest first; `q` matches part of the slug or the name. */
  async list(
    params: AdminTenantListParams = {},
    options?: ReadOptions,
  ): Promise<CursorPage<AdminTenant>> {
    const body = await this.client._unwrap(
      this.client._http.GET('/api/v1/admin/tenants', {
        params: { query: { ...withoutEmpty(params), ...waitFor(options) } },
        signal: options?.signal,
      }),
    )
    return new CursorPage(body, (cursor) =>
      this.list({ ...params, cursor }, { signal: options?.signal }),
    )
  }
}

/** Reviews across the marketplace, for moderators. */
export class AdminReviews extends APIResource {
  /** Visible reviews, newest first, by service and rating if asked; removed ones are gone. */
  async list(
    params: AdminReviewListParams = {},
    options?: ReadOptions,
  ): Promise<CursorPage<AdminReview>> {
    const body = await this.client._unwrap(
      this.client._http.GET('/api/v1/admin/reviews', {
        params: { query: { ...withoutEmpty(params), ...waitFor(options) } },
        signal: options?.signal,
      }),
    )
    return new CursorPage(body, (cursor) =>
      this.list({ ...params, cursor }, { signal: options?.signal }),
    )
  }
}

/** Drop unset filters, so the URL carries only what was asked. */
function withoutEmpty<T extends object>(params: T): T {
  return Object.fromEntries(
    Object.entries(params).filter(([, value]) => value !== undefined && value !== null && value !== ''),
  ) as T
}
