import { APIResource } from '../resource'
import type { Readiness } from '../types'

/** Liveness and readiness, as load balancers and the admin console see them. */
export class Ops extends APIResource {
  /** The process is up. */
  async health(options?: { signal?: AbortSignal }): Promise<{ status: string }> {
    const body = await this.client._unwrap(
      this.client._http.GET('/healthz', { signal: options?.signal }),
    )
    return { status: body['status'] ?? 'unknown' }
  }

  /**
   * The event store answers and no read model is far behind the log. A service that is not
   * ready throws an `InternalServerError` (503) whose `problem` names what lags.
   */
  async readiness(options?: { signal?: AbortSignal }): Promise<Readiness> {
    const body: unknown = await this.client._unwrap(
      this.client._http.GET('/readyz', { signal: options?.signal }),
    )
    return body as Readiness
  }
}
