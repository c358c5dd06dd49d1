import { APIResource, waitFor } from '../resource'
import type { CommandAccepted, CommandOptions, Member, ReadOptions, Role } from '../types'

/** Members of a tenant and their roles. */
export class Members extends APIResource {
  /** Everyone in the tenant with their role. */
  async list(slug: string, options?: ReadOptions): Promise<Member[]> {
    const page = await this.client._unwrap(
      this.client._http.GET('/api/v1/tenants/{slug}/members', {
        params: { path: { slug }, query: waitFor(options) },
        signal: options?.signal,
      }),
    )
    return page.data
  }

  /** Change a member's role; only owners grant or take `owner`, and one owner must remain. */
  async update(
    slug: string,
    userId: string,
    params: { role: Role },
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    const result = await this.client._unwrap(
      this.client._http.PATCH('/api/v1/tenants/{slug}/members/{user_id}', {
        params: { path: { slug, user_id: userId } },
        body: params,
        signal: options?.signal,
      }),
    )
    this.client._observe(result.position)
    return result
  }

  /** Remove a member, or leave when `userId` is the caller's own; the last owner cannot. */
  async remove(slug: string, userId: string, options?: CommandOptions): Promise<CommandAccepted> {
    const result = await this.client._unwrap(
      this.client._http.DELETE('/api/v1/tenants/{slug}/members/{user_id}', {
        params: { path: { slug, user_id: userId } },
        signal: options?.signal,
      }),
    )
    this.client._observe(result.position)
    return result
  }
}
