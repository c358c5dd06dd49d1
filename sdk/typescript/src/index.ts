/**
 * The TypeScript SDK of MCPS.ONE: `new McpsClient({ baseURL })`, then resources such as
 * `client.tokens.create(slug, { name, scopes })`. Types come from the API's OpenAPI document.
 */

export { McpsClient, type ClientOptions } from './client'
export {
  APIConnectionError,
  APIError,
  APITimeoutError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  InternalServerError,
  McpsError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  UnprocessableEntityError,
  type FieldError,
  type Problem,
} from './errors'
export { CursorPage } from './pagination'
export { ServiceSearchPage } from './resources/services'
export {
  LocalStorageSessionStore,
  MemorySessionStore,
  type SessionStore,
  type SessionTokens,
} from './session'
export * from './types'
export type { GatewayOptions, ToolCallOptions } from './resources/mcp'
export type { TaskWaitOptions } from './resources/tasks'
export { EventStreamParser, readEventStream, type ServerSentEvent } from './sse'
export type { components, operations, paths } from './schema'
