import { APIResource, waitFor } from '../resource'
import type { CategoryCount, ReadOptions } from '../types'

/** The marketplace's fixed taxonomy of categories. */
export class Categories extends APIResource {
  /** The twelve categories, each with its number of listed services. */
  async list(options?: ReadOptions): Promise<CategoryCount[]> {
    const body = await this.client._unwrap(
      this.client._http.GET('/api/v1/categories', {
        params: { query: waitFor(options) },
        signal: options?.signal,
      }),
    )
    return body.data
  }
}
