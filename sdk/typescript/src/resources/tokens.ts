import { APIResource, waitFor } from '../resource'
import type {
  ApiToken,
  ApiTokenCreateParams,
  ApiTokenIssued,
  CommandAccepted,
  CommandOptions,
  ReadOptions,
} from '../types'

/** API tokens of a tenant: issued once, listed by prefix, revoked for good. */
export class Tokens extends APIResource {
  /** Issue a token; its secret is in `token` of the answer, this once. */
  async create(
    slug: string,
    params: ApiTokenCreateParams,
    options?: CommandOptions,
  ): Promise<ApiTokenIssued> {
    const result = await this.client._unwrap(
      this.client._http.POST('/api/v1/tenants/{slug}/tokens', {
        params: { path: { slug } },
        body: params,
        signal: options?.signal,
      }),
    )
    this.client._observe(result.position)
    return result
  }

  /** Every token of the tenant, revoked ones included; never a secret. */
  async list(slug: string, options?: ReadOptions): Promise<ApiToken[]> {
    const page = await this.client._unwrap(
      this.client._http.GET('/api/v1/tenants/{slug}/tokens', {
        params: { path: { slug }, query: waitFor(options) },
        signal: options?.signal,
      }),
    )
    return page.data
  }

  /** The token stops working at once; members revoke their own, admins anyone's. */
  async revoke(slug: string, tokenId: string, options?: CommandOptions): Promise<CommandAccepted> {
    const result = await this.client._unwrap(
      this.client._http.POST('/api/v1/tenants/{slug}/tokens/{token_id}/revoke', {
        params: { path: { slug, token_id: tokenId } },
        signal: options?.signal,
      }),
    )
    this.client._observe(result.position)
    return result
  }
}
