import { APIResource } from '../resource'
import type {
  CommandAccepted,
  CommandOptions,
  LoginParams,
  Registration,
  TokenPair,
  UserCreateParams,
} from '../types'

/** Sign-up, sign-in, sessions, email verification and password reset. */
export class Auth extends APIResource {
  /**
   * Create a user and their personal tenant; a verification link goes to the email address.
   * Does not sign in.
   */
  async register(params: UserCreateParams, options?: CommandOptions): Promise<Registration> {
    const result = await this.client._unwrap(
      this.client._http.POST('/api/v1/auth/register', { body: params, signal: options?.signal }),
    )
    this.client._observe(result.position)
    return result
  }

  /** Sign in: the session's tokens are stored in the client's session store and returned. */
  async login(params: LoginParams, options?: CommandOptions): Promise<TokenPair> {
    const pair = await this.client._unwrap(
      this.client._http.POST('/api/v1/auth/login', { body: params, signal: options?.signal }),
    )
    this.client._setSession({ accessToken: pair.access_token, refreshToken: pair.refresh_token })
    return pair
  }

  /**
   * Sign out: the session ends on the server, and the stored tokens are forgotten even if
   * the server could not be reached.
   */
  async logout(options?: CommandOptions): Promise<void> {
    try {
      if (this.client.signedIn) {
        await this.client._unwrap(
          this.client._http.POST('/api/v1/auth/logout', { signal: options?.signal }),
        )
      }
    } finally {
      this.client._setSession(null)
    }
  }

  /** Confirm an email address with the single-use token from the verification email. */
  async verifyEmail(token: string, options?: CommandOptions): Promise<CommandAccepted> {
    const result = await this.client._unwrap(
      this.client._http.POST('/api/v1/auth/verify-email', {
        body: { token },
        signal: options?.signal,
      }),
    )
    this.client._observe(result.position)
    return result
  }

  /** Email a fresh verification link to the signed-in person; earlier links stop working. */
  async resendVerification(options?: CommandOptions): Promise<CommandAccepted> {
    const result = await this.client._unwrap(
      this.client._http.POST('/api/v1/auth/verify-email/resend', { signal: options?.signal }),
    )
    this.client._observe(result.position)
    return result
  }

  /**
   * Email a password-reset link. Succeeds whether or not the address is registered, so the
   * answer does not reveal who is.
   */
  async requestPasswordReset(email: string, options?: CommandOptions): Promise<void> {
    await this.client._unwrap(
      this.client._http.POST('/api/v1/auth/password-reset', {
        body: { email },
        signal: options?.signal,
      }),
    )
  }

  /** Set a new password with the single-use token from the reset email. */
  async confirmPasswordReset(
    params: { token: string; password: string },
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    const result = await this.client._unwrap(
      this.client._http.POST('/api/v1/auth/password-reset/confirm', {
        body: params,
        signal: options?.signal,
      }),
    )
    this.client._observe(result.position)
    return result
  }
}
