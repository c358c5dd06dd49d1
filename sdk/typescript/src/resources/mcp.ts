import { APIError } from '../errors'
import { CursorPage } from '../pagination'
import { APIResource } from '../resource'
import type {
  CallableServer,
  CallHistoryParams,
  CallRecord,
  ServerStatus,
  TaskAccepted,
  ToolCallParams,
  ToolCallResult,
  ToolCallBatchResult,
  ToolCallBatchParams,
} from '../types'

/**
 * Which tenant a call is for. An API token knows its tenant; a signed-in session belongs to
 * several and names one (sent as `X-MCPS-Tenant`).
 */
export interface GatewayOptions {
  /** The tenant's slug, for a signed-in session. */
  tenant?: string
  /** Cancels the request. */
  signal?: AbortSignal
}

/** Options of {@link Mcp.call}. */
export interface ToolCallOptions extends GatewayOptions {
  /** The same key (per tenant) answers with the first result and is billed once. */
  idempotencyKey?: string
}

export function tenantHeader(options?: GatewayOptions): { 'x-mcps-tenant'?: string } {
  return options?.tenant ? { 'x-mcps-tenant': options.tenant } : {}
}

function callHeader(options?: ToolCallOptions): { 'x-mcps-tenant'?: string; 'idempotency-key'?: string } {
  return {
    ...tenantHeader(options),
    ...(options?.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {}),
  }
}

/**
 * The gateway's REST tool-call API: the tenant's callable servers and their tools, calls, and
 * the call history. A call's answer is the envelope `{success, data, error, duration_ms, …}`
 * whether the tool succeeded, failed, or its server failed mid-call (502) or timed out (504);
 * a call refused before it was sent (limits, unknown tool, invalid params) throws.
 */
export class Mcp extends APIResource {
  /** Every deployment of the tenant with its tools (name, description, input schema). */
  async tools(options?: GatewayOptions): Promise<CallableServer[]> {
    const body = await this.client._unwrap(
      this.client._http.GET('/api/v1/mcp/tools', {
        params: { header: tenantHeader(options) },
        signal: options?.signal,
      }),
    )
    return body.servers
  }

  /** One deployment as the gateway sees it now: instances, load and circuit breakers. */
  status(name: string, options?: GatewayOptions): Promise<ServerStatus> {
    return this.client._unwrap(
      this.client._http.GET('/api/v1/mcp/tools/{name}/status', {
        params: { path: { name }, header: tenantHeader(options) },
        signal: options?.signal,
      }),
    )
  }

  /**
   * Call one tool of deployment `name` and wait for its answer. Params that break the tool's
   * input schema throw an `UnprocessableEntityError` (`gateway.invalid_params`) whose
   * `errors` name each field (`params.<key>`); nothing is sent or billed then.
   */
  async call(
    name: string,
    params: ToolCallParams,
    options?: ToolCallOptions,
  ): Promise<ToolCallResult> {
    const header = callHeader(options)
    const { data, error, response } = await this.client._http.POST('/api/v1/mcp/{name}/call', {
      params: { path: { name }, header },
      body: params,
      signal: options?.signal,
    })
    // 200, and 502 and 504, carry the envelope: the call was sent, and billed. (202 answers
    // only `?mode=async`: see `callAsync`.)
    if (response.ok && isEnvelope(data)) return data
    if (isEnvelope(error)) return error
    throw APIError.of(response.status, error, response.headers)
  }

  /**
   * Accept a call now and run it in the background (`?mode=async`): answers the task, whose
   * answer `client.tasks.wait(task_id)` gives once it is finished. Bad params throw at once,
   * as with `call`; the same `idempotencyKey` answers the first task.
   */
  async callAsync(
    name: string,
    params: ToolCallParams,
    options?: ToolCallOptions,
  ): Promise<TaskAccepted> {
    const header = callHeader(options)
    const body = await this.client._unwrap(
      this.client._http.POST('/api/v1/mcp/{name}/call', {
        params: { path: { name }, query: { mode: 'async' }, header },
        body: params,
        signal: options?.signal,
      }),
    )
    return body as unknown as TaskAccepted
  }

  /** Many calls, run concurrently; one result each, in order (a refused one has `problem`). */
  batch(params: ToolCallBatchParams, options?: GatewayOptions): Promise<ToolCallBatchResult> {
    return this.client._unwrap(
      this.client._http.POST('/api/v1/mcp/batch', {
        params: { header: tenantHeader(options) },
        body: params,
        signal: options?.signal,
      }),
    )
  }

  /**
   * The tenant's calls, newest first, a page at a time (from the usage store: a second or so
   * behind the calls). Filter by `tool` and `status`.
   */
  async history(
    params: CallHistoryParams = {},
    options?: GatewayOptions,
  ): Promise<CursorPage<CallRecord>> {
    const query = Object.fromEntries(
      Object.entries(params).filter(([, value]) => value !== undefined && value !== null && value !== ''),
    )
    const body = (await this.client._unwrap(
      this.client._http.GET('/api/v1/mcp/history', {
        params: { query, header: tenantHeader(options) },
        signal: options?.signal,
      }),
    )) as { calls: CallRecord[]; next_cursor: string | null }
    return new CursorPage({ data: body.calls, next_cursor: body.next_cursor }, (before) =>
      this.history({ ...params, before }, options),
    )
  }
}

function isEnvelope(body: unknown): body is ToolCallResult {
  return typeof body === 'object' && body !== null && 'success' in body && 'duration_ms' in body
}
