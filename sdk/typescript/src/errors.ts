/**
 * Every error the SDK throws derives from {@link McpsError}:
 *
 * ```text
 * McpsError
 * ├── APIError                     the server answered with an RFC 9457 problem
 * │   ├── BadRequestError            400
 * │   ├── AuthenticationError        401
 * │   ├── PermissionDeniedError      403
 * │   ├── NotFoundError              404
 * │   ├── ConflictError              409
 * │   ├── UnprocessableEntityError   422
 * │   ├── RateLimitError             429
 * │   └── InternalServerError        5xx
 * └── APIConnectionError           no answer at all
 *     └── APITimeoutError            no answer in time
 * ```
 *
 * An {@link APIError} carries the problem's stable `code` (e.g. `tenant.last_owner`), the
 * `field` at fault for bad input, and the `requestID` to quote when asking for help.
 */

import type { components } from './schema'

/** The problem+json body of every API error. */
export type Problem = components['schemas']['Problem'] & Record<string, unknown>

/** One offending input field of a `validation_failed` problem. */
export interface FieldError {
  field: string
  message: string
}

/** The root of every error this SDK throws. */
export class McpsError extends Error {
  override name = 'McpsError'
}

/** The server answered with an error status; `code` says which error, in a stable way. */
export class APIError extends McpsError {
  override name = 'APIError'
  /** The HTTP status. */
  readonly status: number
  /** The stable problem code, e.g. `auth.invalid_credentials`. */
  readonly code: string
  /** The server's explanation for people (English). */
  readonly detail: string
  /** The input field at fault, if any. */
  readonly field: string | undefined
  /** Every offending field of a validation problem. */
  readonly errors: FieldError[]
  /** The request id to quote when asking for help. */
  readonly requestID: string | undefined
  /** The whole problem body, including extra members such as `lagging`. */
  readonly problem: Problem | undefined
  /** The response headers (e.g. `Retry-After`). */
  readonly headers: Headers

  constructor(status: number, problem: Problem | undefined, headers: Headers, fallback?: string) {
    const detail = problem?.detail ?? problem?.title ?? fallback ?? `HTTP ${status}`
    super(`${status} ${problem?.code ?? 'http_error'}: ${detail}`)
    this.status = status
    this.problem = problem
    this.code = problem?.code ?? 'http_error'
    this.detail = detail
    this.field = problem?.field ?? undefined
    this.errors = (problem?.errors as FieldError[] | undefined) ?? []
    this.requestID = problem?.request_id ?? headers.get('x-request-id') ?? undefined
    this.headers = headers
  }

  /** The subclass that matches the status. */
  static of(status: number, body: unknown, headers: Headers): APIError {
    const problem = isProblem(body) ? body : undefined
    const fallback = typeof body === 'string' && body ? body.slice(0, 200) : undefined
    const Class = statusClasses[status] ?? (status >= 500 ? InternalServerError : APIError)
    return new Class(status, problem, headers, fallback)
  }
}

/** 400: the request was malformed (e.g. not JSON) or a link token is unknown or used. */
export class BadRequestError extends APIError {
  override name = 'BadRequestError'
}
/** 401: no, a wrong, or an expired credential. */
export class AuthenticationError extends APIError {
  override name = 'AuthenticationError'
}
/** 403: signed in, but the role or token scope does not allow it. */
export class PermissionDeniedError extends APIError {
  override name = 'PermissionDeniedError'
}
/** 404: not there, or not visible to the caller. */
export class NotFoundError extends APIError {
  override name = 'NotFoundError'
}
/** 409: taken, or changed concurrently. */
export class ConflictError extends APIError {
  override name = 'ConflictError'
}
/** 422: the input broke a rule; `field` names it. */
export class UnprocessableEntityError extends APIError {
  override name = 'UnprocessableEntityError'
}
/** 429: too many requests; retry after `Retry-After`. */
export class RateLimitError extends APIError {
  override name = 'RateLimitError'
}
/** 5xx: the server failed or is not ready (e.g. `read_model.lagging`). */
export class InternalServerError extends APIError {
  override name = 'InternalServerError'
}

/** The request got no answer (network down, server gone, CORS). */
export class APIConnectionError extends McpsError {
  override name = 'APIConnectionError'
  constructor(message = 'could not reach the MCPS.ONE API', options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** The request got no answer within the timeout. */
export class APITimeoutError extends APIConnectionError {
  override name = 'APITimeoutError'
  constructor(options?: { cause?: unknown }) {
    super('the MCPS.ONE API did not answer in time', options)
  }
}

const statusClasses: Record<number, typeof APIError> = {
  400: BadRequestError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  422: UnprocessableEntityError,
  429: RateLimitError,
}

function isProblem(body: unknown): body is Problem {
  return typeof body === 'object' && body !== null && typeof (body as Problem).code === 'string'
}
