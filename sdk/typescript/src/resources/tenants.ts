import { APIResource, waitFor } from '../resource'
import type {
  AnalyticsMetric,
  AnalyticsParams,
  AnalyticsReport,
  CommandAccepted,
  CommandOptions,
  ReadOptions,
  Tenant,
  TenantCreateParams,
  TenantUpdateParams,
} from '../types'

/** Personal and team tenants. */
export class Tenants extends APIResource {
  /** Create a team at `/t/{slug}` with the caller as its owner. */
  async create(params: TenantCreateParams, options?: CommandOptions): Promise<CommandAccepted> {
    const result = await this.client._unwrap(
      this.client._http.POST('/api/v1/tenants', { body: params, signal: options?.signal }),
    )
    this.client._observe(result.position)
    return result
  }

  /** Every tenant the caller belongs to, personal first. */
  list(options?: ReadOptions): Promise<Tenant[]> {
    return this.client._unwrap(
      this.client._http.GET('/api/v1/tenants', {
        params: { query: waitFor(options) },
        signal: options?.signal,
      }),
    )
  }

  /** One tenant the caller belongs to (others are 404). */
  retrieve(slug: string, options?: ReadOptions): Promise<Tenant> {
    return this.client._unwrap(
      this.client._http.GET('/api/v1/tenants/{slug}', {
        params: { path: { slug }, query: waitFor(options) },
        signal: options?.signal,
      }),
    )
  }

  /** Rename a tenant (admins and owners). */
  async update(
    slug: string,
    params: TenantUpdateParams,
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    const result = await this.client._unwrap(
      this.client._http.PATCH('/api/v1/tenants/{slug}', {
        params: { path: { slug } },
        body: params,
        signal: options?.signal,
      }),
    )
    this.client._observe(result.position)
    return result
  }

  /** Suspend a tenant (platform operators): its tokens and commands stop working. */
  async suspend(slug: string, reason: string, options?: CommandOptions): Promise<CommandAccepted> {
    const result = await this.client._unwrap(
      this.client._http.POST('/api/v1/tenants/{slug}/suspend', {
        params: { path: { slug } },
        body: { reason },
        signal: options?.signal,
      }),
    )
    this.client._observe(result.position)
    return result
  }

  /** Lift a suspension (platform operators). */
  async reactivate(slug: string, options?: CommandOptions): Promise<CommandAccepted> {
    const result = await this.client._unwrap(
      this.client._http.POST('/api/v1/tenants/{slug}/reactivate', {
        params: { path: { slug } },
        signal: options?.signal,
      }),
    )
    this.client._observe(result.position)
    return result
  }

  /**
   * The tenant's usage: calls, latency percentiles, errors or cost per time bucket (minute,
   * hour, day; UTC) over a range (the last 24 hours by default), optionally one series per
   * deployment, service, tool or token, with a summary and the most called tools. Members
   * and viewers; a token needs `billing:read`, `mcp:read` or `admin`. A publisher's view of
   * its service is `client.services.analytics`.
   *
   * ```ts
   * const report = await client.tenants.analytics('acme', 'latency', { interval: 'hour', group_by: 'tool' })
   * ```
   */
  analytics(
    slug: string,
    metric: AnalyticsMetric,
    params: AnalyticsParams = {},
    options?: { signal?: AbortSignal },
  ): Promise<AnalyticsReport> {
    const query = Object.fromEntries(
      Object.entries(params).filter(([, value]) => value !== undefined && value !== null),
    ) as AnalyticsParams
    return this.client._unwrap(
      this.client._http.GET('/api/v1/tenants/{slug}/analytics/{metric}', {
        params: { path: { slug, metric }, query },
        signal: options?.signal,
      }),
    )
  }
}
