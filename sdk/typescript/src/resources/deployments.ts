import { APIError } from '../errors'
import { CursorPage } from '../pagination'
import { APIResource, waitFor } from '../resource'
import { readEventStream } from '../sse'
import type {
  CommandAccepted,
  CommandOptions,
  Deployment,
  DeploymentAutoscalingParams,
  DeploymentBatchAction,
  DeploymentBatchResult,
  DeploymentCreateParams,
  DeploymentEvent,
  DeploymentFollowOptions,
  DeploymentListParams,
  DeploymentLogLine,
  DeploymentLogsPage,
  DeploymentLogsParams,
  DeploymentUpgradeParams,
  ReadOptions,
} from '../types'

type SimpleAction = 'start' | 'stop' | 'restart' | 'rollback'

/**
 * A tenant's deployments of marketplace services: create, read, and act on them. Commands
 * answer once their events are durable; the deployer then acts, and `status` and
 * `instances` follow (a read after a command waits for the read model to show it).
 */
export class Deployments extends APIResource {
  /** Deploy a published service's version (the latest by default) under a name. */
  async create(
    slug: string,
    params: DeploymentCreateParams,
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.POST('/api/v1/tenants/{slug}/deployments', {
        params: { path: { slug } },
        body: params,
        signal: options?.signal,
      }),
    )
  }

  /** One page of deployments by name, with live status and instances; `for await` reads on. */
  async list(
    slug: string,
    params: DeploymentListParams = {},
    options?: ReadOptions,
  ): Promise<CursorPage<Deployment>> {
    const body = await this.client._unwrap(
      this.client._http.GET('/api/v1/tenants/{slug}/deployments', {
        params: { path: { slug }, query: { ...params, ...waitFor(options) } },
        signal: options?.signal,
      }),
    )
    return new CursorPage(body, (cursor) => this.list(slug, { ...params, cursor }, options))
  }

  /** One deployment: status, instances and their health, version, config without secrets. */
  retrieve(slug: string, name: string, options?: ReadOptions): Promise<Deployment> {
    return this.client._unwrap(
      this.client._http.GET('/api/v1/tenants/{slug}/deployments/{name}', {
        params: { path: { slug, name }, query: waitFor(options) },
        signal: options?.signal,
      }),
    )
  }

  /** Replace the configuration; a secret sent back as `********` keeps its stored value. */
  async update(
    slug: string,
    name: string,
    params: { config: Record<string, unknown> },
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.PATCH('/api/v1/tenants/{slug}/deployments/{name}', {
        params: { path: { slug, name } },
        body: params,
        signal: options?.signal,
      }),
    )
  }

  /** Stop its instances and forget it; the name may be deployed again. */
  async delete(slug: string, name: string, options?: CommandOptions): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.DELETE('/api/v1/tenants/{slug}/deployments/{name}', {
        params: { path: { slug, name } },
        signal: options?.signal,
      }),
    )
  }

  /** Start it (also clears a `failed` deployment's error and tries again). */
  start(slug: string, name: string, options?: CommandOptions): Promise<CommandAccepted> {
    return this.#act('start', slug, name, options)
  }

  /** Stop its instances. */
  stop(slug: string, name: string, options?: CommandOptions): Promise<CommandAccepted> {
    return this.#act('stop', slug, name, options)
  }

  /** Replace every instance, one at a time, each new one healthy before the next. */
  restart(slug: string, name: string, options?: CommandOptions): Promise<CommandAccepted> {
    return this.#act('restart', slug, name, options)
  }

  /** Back to the version (and configuration) it ran before the last upgrade. */
  rollback(slug: string, name: string, options?: CommandOptions): Promise<CommandAccepted> {
    return this.#act('rollback', slug, name, options)
  }

  /** Run `replicas` instances (1 up to the plan's limit). */
  async scale(
    slug: string,
    name: string,
    params: { replicas: number },
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.POST('/api/v1/tenants/{slug}/deployments/{name}/scale', {
        params: { path: { slug, name } },
        body: params,
        signal: options?.signal,
      }),
    )
  }

  /**
   * Let replicas follow the calls in flight: `ceil(in_flight / target_in_flight)` within
   * `min_replicas..max_replicas` (up to the plan's limit), up at once, down once the load has
   * stayed low a while. Replicas outside the bounds are brought within at once.
   */
  async autoscale(
    slug: string,
    name: string,
    params: DeploymentAutoscalingParams,
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.PUT('/api/v1/tenants/{slug}/deployments/{name}/autoscaling', {
        params: { path: { slug, name } },
        body: params,
        signal: options?.signal,
      }),
    )
  }

  /** Stop autoscaling: replicas stay where the scaler left them. */
  async stopAutoscaling(slug: string, name: string, options?: CommandOptions): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.DELETE('/api/v1/tenants/{slug}/deployments/{name}/autoscaling', {
        params: { path: { slug, name } },
        signal: options?.signal,
      }),
    )
  }

  /** Roll to another version (the latest by default), one replica at a time. */
  async upgrade(
    slug: string,
    name: string,
    params: DeploymentUpgradeParams = {},
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    return this.#command(
      this.client._http.POST('/api/v1/tenants/{slug}/deployments/{name}/upgrade', {
        params: { path: { slug, name } },
        body: params,
        signal: options?.signal,
      }),
    )
  }

  /**
   * `start`, `stop`, `restart` or `delete` many deployments, each on its own: one result per
   * name, in order; a failing item undoes no other (the call itself succeeds).
   */
  async batch(
    slug: string,
    params: DeploymentBatchAction,
    options?: CommandOptions,
  ): Promise<DeploymentBatchResult> {
    const result = await this.client._unwrap(
      this.client._http.POST('/api/v1/tenants/{slug}/deployments:batch', {
        params: { path: { slug } },
        body: params,
        signal: options?.signal,
      }),
    )
    for (const item of result.results) this.client._observe(item.position)
    return result
  }

  /** What its instances wrote, oldest first, by time range, level (and above) and instance. */
  async logs(
    slug: string,
    name: string,
    params: DeploymentLogsParams = {},
    options?: { signal?: AbortSignal },
  ): Promise<DeploymentLogLine[]> {
    const page = (await this.client._unwrap(
      this.client._http.GET('/api/v1/tenants/{slug}/deployments/{name}/logs', {
        params: { path: { slug, name }, query: { ...params, follow: false } },
        signal: options?.signal,
      }),
    )) as DeploymentLogsPage
    return page.data
  }

  /**
   * The log lines matching `params`, then each new one as it is written, until `signal`
   * aborts or the server ends the stream (after 15 minutes: follow again from the last
   * line's `at`). Server-sent events read through the client, so the session or API key
   * goes with it; the client's timeout covers only the wait for the stream to open.
   *
   * ```ts
   * for await (const line of client.deployments.followLogs('acme', 'clock', { since })) {
   *   console.log(line.at, line.message)
   * }
   * ```
   */
  async *followLogs(
    slug: string,
    name: string,
    params: DeploymentLogsParams = {},
    options?: { signal?: AbortSignal },
  ): AsyncGenerator<DeploymentLogLine, void, undefined> {
    const { data, error, response } = await this.client._http.GET(
      '/api/v1/tenants/{slug}/deployments/{name}/logs',
      {
        params: { path: { slug, name }, query: { ...params, follow: true } },
        headers: { Accept: 'text/event-stream' },
        parseAs: 'stream',
        signal: options?.signal,
      },
    )
    if (!response.ok || !data) throw APIError.of(response.status, error, response.headers)
    for await (const event of readEventStream(data, options?.signal)) {
      if (event.event === 'end') return
      if (event.event === 'log') yield JSON.parse(event.data) as DeploymentLogLine
    }
  }

  /**
   * Every change of a tenant's deployments as it reaches the read model: a `deployment` event
   * with the row as `retrieve` returns it, or `deleted`. Without `lastEventId` the stream opens
   * with every current deployment. Each event's `id` is a log position: pass the last one
   * seen as `lastEventId` to resume without missing a change (the server ends a stream after
   * 30 minutes). Server-sent events read through the client, so the session or API key goes
   * with it.
   *
   * ```ts
   * for await (const change of client.deployments.followAll('acme')) {
   *   if (change.type === 'deployment') console.log(change.deployment.name, change.deployment.status)
   * }
   * ```
   */
  followAll(
    slug: string,
    options: DeploymentFollowOptions = {},
  ): AsyncGenerator<DeploymentEvent, void, undefined> {
    const init = { params: { path: { slug }, header: lastEventHeader(options) } }
    return this.#follow(
      this.client._http.GET('/api/v1/tenants/{slug}/deployments:events', {
        ...init,
        headers: { Accept: 'text/event-stream' },
        parseAs: 'stream',
        signal: options.signal,
      }),
      options.signal,
    )
  }

  /** `followAll` for one deployment: its changes, and `deleted` if it is deleted. */
  follow(
    slug: string,
    name: string,
    options: DeploymentFollowOptions = {},
  ): AsyncGenerator<DeploymentEvent, void, undefined> {
    const init = { params: { path: { slug, name }, header: lastEventHeader(options) } }
    return this.#follow(
      this.client._http.GET('/api/v1/tenants/{slug}/deployments/{name}/events', {
        ...init,
        headers: { Accept: 'text/event-stream' },
        parseAs: 'stream',
        signal: options.signal,
      }),
      options.signal,
    )
  }

  async *#follow(
    call: Promise<{ data?: ReadableStream<Uint8Array> | null; error?: unknown; response: Response }>,
    signal?: AbortSignal,
  ): AsyncGenerator<DeploymentEvent, void, undefined> {
    const { data, error, response } = await call
    if (!response.ok || !data) throw APIError.of(response.status, error, response.headers)
    for await (const event of readEventStream(data, signal)) {
      const id = event.id ?? ''
      if (event.event === 'deployment') {
        yield { type: 'deployment', id, deployment: JSON.parse(event.data) as Deployment }
      } else if (event.event === 'deleted') {
        const deleted = JSON.parse(event.data) as { id: string; name: string }
        yield { type: 'deleted', id, deployment: deleted }
      }
    }
  }

  #act(
    action: SimpleAction,
    slug: string,
    name: string,
    options?: CommandOptions,
  ): Promise<CommandAccepted> {
    const init = { params: { path: { slug, name } }, signal: options?.signal }
    const http = this.client._http
    const calls = {
      start: () => http.POST('/api/v1/tenants/{slug}/deployments/{name}/start', init),
      stop: () => http.POST('/api/v1/tenants/{slug}/deployments/{name}/stop', init),
      restart: () => http.POST('/api/v1/tenants/{slug}/deployments/{name}/restart', init),
      rollback: () => http.POST('/api/v1/tenants/{slug}/deployments/{name}/rollback', init),
    }
    return this.#command(calls[action]())
  }

  async #command(
    call: Promise<{ data?: CommandAccepted; error?: unknown; response: Response }>,
  ): Promise<CommandAccepted> {
    const result = await this.client._unwrap(call)
    this.client._observe(result.position)
    return result
  }
}

function lastEventHeader(options: DeploymentFollowOptions): { 'Last-Event-ID'?: string } {
  return options.lastEventId === undefined ? {} : { 'Last-Event-ID': String(options.lastEventId) }
}
