import { APIResource, waitFor } from '../resource'
import type {
  CommandAccepted,
  CommandOptions,
  Me as MeBody,
  PasswordChangeParams,
  ProfileUpdateParams,
  ReadOptions,
} from '../types'

/** The signed-in person's own account. */
export class Me extends APIResource {
  /** The caller's profile and every tenant they belong to, with their role in each. */
  retrieve(options?: ReadOptions): Promise<MeBody> {
    return this.client._unwrap(
      this.client._http.GET('/api/v1/me', {
        params: { query: waitFor(options) },
        signal: options?.signal,
      }),
    )
  }

  /** Change the display name. */
  async update(params: ProfileUpdateParams, options?: CommandOptions): Promise<CommandAccepted> {
    const result = await this.client._unwrap(
      this.client._http.PATCH('/api/v1/me', { body: params, signal: options?.signal }),
    )
    this.client._observe(result.position)
    return result
  }

  /** Change the password; needs the current one. */
  async changePassword(
    params: PasswordChangeParams,
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    const result = await this.client._unwrap(
      this.client._http.POST('/api/v1/me/password', { body: params, signal: options?.signal }),
    )
    this.client._observe(result.position)
    return result
  }
}
