import { CursorPage } from '../pagination'
import { APIResource, waitFor } from '../resource'
import type {
  AnalyticsMetric,
  AnalyticsReport,
  CommandAccepted,
  CommandOptions,
  ReadOptions,
  Service,
  ServiceAnalyticsParams,
  ServiceCreateParams,
  ServiceDeprecateParams,
  ServiceFacets,
  ServiceHit,
  ServiceListParams,
  ServiceUnpublishParams,
  ServiceUpdateParams,
  ServiceVersion,
  VersionCreateParams,
  VersionYankParams,
} from '../types'

/** A page of search results, with facet counts and the total over every match. */
export class ServiceSearchPage extends CursorPage<ServiceHit> {
  /** Counts per category, pricing model, runtime kind and the 10 most used tags. */
  readonly facets: ServiceFacets
  /** How many services matched (not only this page). */
  readonly total: number

  constructor(
    body: { data: ServiceHit[]; next_cursor: string | null; facets: ServiceFacets; total: number },
    fetchPage: (cursor: string) => Promise<ServiceSearchPage>,
  ) {
    super(body, fetchPage)
    this.facets = body.facets
    this.total = body.total
  }
}

/**
 * The marketplace's MCP services: search and read them (anyone, anonymous included), and,
 * for the publishing tenant's owners and admins, draft, change, release and publish them.
 */
export class Services extends APIResource {
  /**
   * Search the catalogue: words, partial words or Chinese text in `q`, filters, a sort, and
   * cursor paging. A signed-in caller also finds the drafts of their own tenants.
   */
  async list(
    params: ServiceListParams = {},
    options?: ReadOptions,
  ): Promise<ServiceSearchPage> {
    const body = await this.client._unwrap(
      this.client._http.GET('/api/v1/services', {
        params: { query: { ...withoutEmpty(params), ...waitFor(options) } },
        signal: options?.signal,
      }),
    )
    return new ServiceSearchPage(body, (cursor) =>
      this.list({ ...params, cursor }, { signal: options?.signal }),
    )
  }

  /** A service's page: listing, publisher, rating histogram and its latest release. */
  retrieve(name: string, options?: ReadOptions): Promise<Service> {
    return this.client._unwrap(
      this.client._http.GET('/api/v1/services/{name}', {
        params: { path: { name }, query: waitFor(options) },
        signal: options?.signal,
      }),
    )
  }

  /** Every released version, newest first; yanked ones are flagged. */
  async versions(name: string, options?: ReadOptions): Promise<ServiceVersion[]> {
    const body = await this.client._unwrap(
      this.client._http.GET('/api/v1/services/{name}/versions', {
        params: { path: { name }, query: waitFor(options) },
        signal: options?.signal,
      }),
    )
    return body.data
  }

  /** Draft a service, visible only to its publishing tenant until it is published. */
  create(params: ServiceCreateParams, options?: CommandOptions): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.POST('/api/v1/services', { body: params, signal: options?.signal }),
    )
  }

  /** Change a service's listing; send only the fields to change. */
  update(
    name: string,
    params: ServiceUpdateParams,
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.PATCH('/api/v1/services/{name}', {
        params: { path: { name } },
        body: params,
        signal: options?.signal,
      }),
    )
  }

  /** Release a version: semver, higher than every earlier one, immutable once released. */
  release(
    name: string,
    params: VersionCreateParams,
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.POST('/api/v1/services/{name}/versions', {
        params: { path: { name } },
        body: params,
        signal: options?.signal,
      }),
    )
  }

  /** Withdraw a version from new deployments; running ones keep it until they upgrade. */
  yank(
    name: string,
    version: string,
    params: VersionYankParams = {},
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.POST('/api/v1/services/{name}/versions/{version}/yank', {
        params: { path: { name, version } },
        body: params,
        signal: options?.signal,
      }),
    )
  }

  /** List the service for everyone; it needs a released version. */
  publish(name: string, options?: CommandOptions): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.POST('/api/v1/services/{name}/publish', {
        params: { path: { name } },
        signal: options?.signal,
      }),
    )
  }

  /** Keep it listed with a notice and, if given, the service that replaces it. */
  deprecate(
    name: string,
    params: ServiceDeprecateParams = {},
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.POST('/api/v1/services/{name}/deprecate', {
        params: { path: { name } },
        body: params,
        signal: options?.signal,
      }),
    )
  }

  /** Back to a draft: hidden from the marketplace, kept for its tenant. */
  unpublish(
    name: string,
    params: ServiceUnpublishParams = {},
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.POST('/api/v1/services/{name}/unpublish', {
        params: { path: { name } },
        body: params,
        signal: options?.signal,
      }),
    )
  }

  /** Put the service on the marketplace's front page, or take it off (platform operators). */
  feature(name: string, featured = true, options?: CommandOptions): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.POST('/api/v1/services/{name}/feature', {
        params: { path: { name } },
        body: { featured },
        signal: options?.signal,
      }),
    )
  }

  /**
   * The publisher's view of the service's usage from every tenant, without naming them:
   * calls, latency, errors or cost per bucket (the publishing tenant's members only).
   */
  analytics(
    name: string,
    metric: AnalyticsMetric,
    params: ServiceAnalyticsParams = {},
    options?: { signal?: AbortSignal },
  ): Promise<AnalyticsReport> {
    return this.client._unwrap(
      this.client._http.GET('/api/v1/services/{name}/analytics/{metric}', {
        params: { path: { name, metric }, query: withoutEmpty(params) },
        signal: options?.signal,
      }),
    )
  }

  async #command(
    call: Promise<{ data?: CommandAccepted; error?: unknown; response: Response }>,
  ): Promise<CommandAccepted> {
    const result = await this.client._unwrap(call)
    this.client._observe(result.position)
    return result
  }
}

/** Drop unset filters, so the URL carries only what was asked. */
function withoutEmpty<T extends object>(params: T): T {
  return Object.fromEntries(
    Object.entries(params).filter(([, value]) => value !== undefined && value !== null && value !== ''),
  ) as T
}
