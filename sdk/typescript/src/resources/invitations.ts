import { APIResource, waitFor } from '../resource'
import type {
  CommandAccepted,
  CommandOptions,
  Invitation,
  InvitationCreateParams,
  InvitationIssued,
  ReadOptions,
} from '../types'

/** Invitations to join a tenant, by email. */
export class Invitations extends APIResource {
  /** Pending, accepted and revoked invitations, newest first (admins and owners). */
  async list(slug: string, options?: ReadOptions): Promise<Invitation[]> {
    const page = await this.client._unwrap(
      this.client._http.GET('/api/v1/tenants/{slug}/invitations', {
        params: { path: { slug }, query: waitFor(options) },
        signal: options?.signal,
      }),
    )
    return page.data
  }

  /** Email a single-use link, valid 7 days, that only the invited address can accept. */
  async create(
    slug: string,
    params: InvitationCreateParams,
    options?: CommandOptions,
  ): Promise<InvitationIssued> {
    const result = await this.client._unwrap(
      this.client._http.POST('/api/v1/tenants/{slug}/invitations', {
        params: { path: { slug } },
        body: params,
        signal: options?.signal,
      }),
    )
    this.client._observe(result.position)
    return result
  }

  /** The invitation's link stops working at once. */
  async revoke(
    slug: string,
    invitationId: string,
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    const result = await this.client._unwrap(
      this.client._http.DELETE('/api/v1/tenants/{slug}/invitations/{invitation_id}', {
        params: { path: { slug, invitation_id: invitationId } },
        signal: options?.signal,
      }),
    )
    this.client._observe(result.position)
    return result
  }

  /** Join the tenant with the token from the invitation email (signed in as the invitee). */
  async accept(token: string, options?: CommandOptions): Promise<CommandAccepted> {
    const result = await this.client._unwrap(
      this.client._http.POST('/api/v1/invitations/accept', {
        body: { token },
        signal: options?.signal,
      }),
    )
    this.client._observe(result.position)
    return result
  }
}
