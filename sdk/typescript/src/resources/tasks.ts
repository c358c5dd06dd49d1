import { McpsError } from '../errors'
import { CursorPage } from '../pagination'
import { APIResource } from '../resource'
import type { Task, TaskListParams, TaskSummary } from '../types'
import { tenantHeader, type GatewayOptions } from './mcp'

/** Options of {@link Tasks.wait}. */
export interface TaskWaitOptions extends GatewayOptions {
  /** Between two reads; 250 ms unless given. */
  intervalMs?: number
  /** Give up (throw a `McpsError`) after this long; 60 s unless given. */
  timeoutMs?: number
}

/**
 * Tool calls accepted with `client.mcp.callAsync`: one task's status and answer (read from the
 * event store, so current), and the tenant's tasks newest first (a few ms behind).
 */
export class Tasks extends APIResource {
  /** A task: `pending`, `running`, `succeeded` or `failed`; once finished, `result` or `problem`. */
  retrieve(taskId: string, options?: GatewayOptions): Promise<Task> {
    return this.client._unwrap(
      this.client._http.GET('/api/v1/tasks/{task_id}', {
        params: { path: { task_id: taskId }, header: tenantHeader(options) },
        signal: options?.signal,
      }),
    )
  }

  /** Read the task until it is finished (`succeeded` or `failed`), and answer it. */
  async wait(taskId: string, options: TaskWaitOptions = {}): Promise<Task> {
    const { intervalMs = 250, timeoutMs = 60_000, ...read } = options
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const task = await this.retrieve(taskId, read)
      if (task.status === 'succeeded' || task.status === 'failed') return task
      if (Date.now() + intervalMs > deadline) {
        throw new McpsError(`task ${taskId} is still ${task.status} after ${timeoutMs} ms`)
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs))
    }
  }

  /** The tenant's tasks, newest first, a page at a time; filter by `status` or deployment `name`. */
  async list(params: TaskListParams = {}, options?: GatewayOptions): Promise<CursorPage<TaskSummary>> {
    return this.#page(params, undefined, options)
  }

  async #page(
    params: TaskListParams,
    cursor: string | undefined,
    options?: GatewayOptions,
  ): Promise<CursorPage<TaskSummary>> {
    const body = await this.client._unwrap(
      this.client._http.GET('/api/v1/tasks', {
        params: { query: { ...params, cursor }, header: tenantHeader(options) },
        signal: options?.signal,
      }),
    )
    return new CursorPage(body, (next) => this.#page(params, next, options))
  }
}
