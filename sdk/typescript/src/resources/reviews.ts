import { CursorPage } from '../pagination'
import { APIResource, waitFor } from '../resource'
import type { CommandAccepted, CommandOptions, ReadOptions, Review, ReviewCreateParams } from '../types'

/** Reviews of a service: one per person, with a rating from 1 to 5 and a comment. */
export class Reviews extends APIResource {
  /** Visible reviews, newest first, each with its "has deployed it" badge. */
  async list(
    name: string,
    params: { cursor?: string; limit?: number } = {},
    options?: ReadOptions,
  ): Promise<CursorPage<Review>> {
    const body = await this.client._unwrap(
      this.client._http.GET('/api/v1/services/{name}/reviews', {
        params: { path: { name }, query: { ...params, ...waitFor(options) } },
        signal: options?.signal,
      }),
    )
    return new CursorPage(body, (cursor) =>
      this.list(name, { ...params, cursor }, { signal: options?.signal }),
    )
  }

  /** Review a service (once); members of its publisher cannot. */
  create(
    name: string,
    params: ReviewCreateParams,
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.POST('/api/v1/services/{name}/reviews', {
        params: { path: { name } },
        body: params,
        signal: options?.signal,
      }),
    )
  }

  /** Change your own review's rating and comment. */
  update(
    name: string,
    params: ReviewCreateParams,
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.PUT('/api/v1/services/{name}/reviews/me', {
        params: { path: { name } },
        body: params,
        signal: options?.signal,
      }),
    )
  }

  /** Remove your own review; you may post a new one later. */
  delete(name: string, options?: CommandOptions): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.DELETE('/api/v1/services/{name}/reviews/me', {
        params: { path: { name } },
        signal: options?.signal,
      }),
    )
  }

  /**
   * Remove someone's review (platform operators), with the reason; its author cannot post
   * another. `userId` is the reviewer's id (`AdminReview.reviewer_id`).
   */
  remove(
    name: string,
    userId: string,
    reason: string,
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.POST('/api/v1/services/{name}/reviews/{user_id}/remove', {
        params: { path: { name, user_id: userId } },
        body: { reason },
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
