/** The client: one configured transport shared by every resource. */

import createClient, { type Client } from 'openapi-fetch'

import { APIConnectionError, APIError, APITimeoutError } from './errors'
import { Admin } from './resources/admin'
import { Audit } from './resources/audit'
import { Auth } from './resources/auth'
import { Categories } from './resources/categories'
import { Deployments } from './resources/deployments'
import { Invitations } from './resources/invitations'
import { Mcp } from './resources/mcp'
import { Me } from './resources/me'
import { Members } from './resources/members'
import { Ops } from './resources/ops'
import { Reviews } from './resources/reviews'
import { Services } from './resources/services'
import { Tasks } from './resources/tasks'
import { Tenants } from './resources/tenants'
import { Tokens } from './resources/tokens'
import type { paths } from './schema'
import { MemorySessionStore, type SessionStore, type SessionTokens } from './session'

/** How to reach the API and as whom. */
export interface ClientOptions {
  /**
   * An API token (`mcps_…`) for programs. People sign in with `client.auth.login` instead,
   * and the client keeps their session in `session`.
   */
  apiKey?: string | null
  /** The API's origin, e.g. `http://127.0.0.1:8000`; empty for the page's own origin. */
  baseURL?: string
  /** Retries of reads after a timeout, a lost connection, 429, 502, 503 or 504. Default 2. */
  maxRetries?: number
  /** Milliseconds before a request attempt is abandoned. Default 30,000. */
  timeout?: number
  /** Where the signed-in session's tokens live. Default: in memory. */
  session?: SessionStore
  /** Called once when the session can no longer be refreshed (signed out elsewhere, expired). */
  onSessionEnded?: () => void
  /**
   * Make every read wait until the read models have applied this client's last command
   * (sent as `X-Consistent-After`), so a list shows what was just created. Default true.
   */
  readYourWrites?: boolean
  /** A `fetch` implementation; defaults to the global one. */
  fetch?: (request: Request, init?: RequestInit) => Promise<Response>
}

type FetchResult<T> = { data?: T; error?: unknown; response: Response }

/** Paths that never carry a session and never trigger a refresh. */
const SESSIONLESS = /\/api\/v1\/auth\/(login|register|refresh|password-reset(\/confirm)?)$/

const RETRYABLE_STATUS = new Set([408, 429, 502, 503, 504])
/** A `{name}` of the path template that no value replaced (openapi-fetch leaves it, encoded). */
const UNFILLED_PARAMETER = /%7B[^/]*%7D|\{[^/]*\}/i

/**
 * The MCPS.ONE API.
 *
 * ```ts
 * const client = new McpsClient({ baseURL: 'http://127.0.0.1:8000' })
 * await client.auth.login({ email: 'ada@example.com', password: '…' })
 * const me = await client.me.retrieve()
 * ```
 */
export class McpsClient {
  /** Sign-up, sign-in, sessions, email verification and password reset. */
  readonly auth: Auth
  /** The signed-in person's own account. */
  readonly me: Me
  /** Personal and team tenants. */
  readonly tenants: Tenants
  /** Members of a tenant and their roles. */
  readonly members: Members
  /** Invitations to join a tenant. */
  readonly invitations: Invitations
  /** API tokens of a tenant. */
  readonly tokens: Tokens
  /** A tenant's audit log. */
  readonly audit: Audit
  /** Liveness and readiness. */
  readonly ops: Ops
  /** The marketplace's MCP services: search, read, draft, release, publish. */
  readonly services: Services
  /** Reviews of marketplace services. */
  readonly reviews: Reviews
  /** The marketplace's categories. */
  readonly categories: Categories
  /** A tenant's deployments: create, start, stop, scale, upgrade, logs. */
  readonly deployments: Deployments
  /** The platform operators' console: every tenant, reviews to moderate. */
  readonly admin: Admin
  /** The gateway: a tenant's callable tools, tool calls, and the call history. */
  readonly mcp: Mcp
  /** Async tool calls (`client.mcp.callAsync`): one task, or the tenant's tasks. */
  readonly tasks: Tasks

  /** The API's origin. */
  readonly baseURL: string
  /** Retries of reads. */
  readonly maxRetries: number
  /** Milliseconds per attempt. */
  readonly timeout: number
  /** Where the session's tokens live. */
  readonly session: SessionStore

  /** @internal The typed openapi-fetch client that resources call. */
  readonly _http: Client<paths>

  readonly #apiKey: string | null
  readonly #onSessionEnded: (() => void) | undefined
  readonly #fetch: (request: Request, init?: RequestInit) => Promise<Response>
  readonly #readYourWrites: boolean
  readonly #origin: string
  #position = 0
  #refreshing: Promise<boolean> | null = null

  constructor(options: ClientOptions = {}) {
    this.baseURL = (options.baseURL ?? '').replace(/\/+$/, '')
    this.maxRetries = options.maxRetries ?? 2
    this.timeout = options.timeout ?? 30_000
    this.session = options.session ?? new MemorySessionStore()
    this.#apiKey = options.apiKey ?? null
    this.#onSessionEnded = options.onSessionEnded
    this.#readYourWrites = options.readYourWrites ?? true
    const given = options.fetch
    this.#fetch = given ?? ((request, init) => globalThis.fetch(request, init))
    // A relative base works in browsers only; openapi-fetch needs an absolute URL elsewhere.
    this.#origin = this.baseURL || (globalThis.location?.origin ?? '')
    this._http = createClient<paths>({ baseUrl: this.#origin, fetch: (req) => this.#transport(req) })
    this.auth = new Auth(this)
    this.me = new Me(this)
    this.tenants = new Tenants(this)
    this.members = new Members(this)
    this.invitations = new Invitations(this)
    this.tokens = new Tokens(this)
    this.audit = new Audit(this)
    this.ops = new Ops(this)
    this.services = new Services(this)
    this.reviews = new Reviews(this)
    this.categories = new Categories(this)
    this.deployments = new Deployments(this)
    this.admin = new Admin(this)
    this.mcp = new Mcp(this)
    this.tasks = new Tasks(this)
  }

  /** Whether a person is signed in through this client (an API key does not count). */
  get signedIn(): boolean {
    return this.session.load() !== null
  }

  /** The highest log position a command of this client returned (0 before any). */
  get position(): number {
    return this.#position
  }

  /** @internal Remember a command's log position for read-your-writes. */
  _observe(position: number | null | undefined): void {
    if (typeof position === 'number' && position > this.#position) this.#position = position
  }

  /** @internal Store (or clear) the session after sign-in or sign-out. */
  _setSession(tokens: SessionTokens | null): void {
    this.session.save(tokens)
  }

  /** @internal The body of a successful call, or the matching {@link APIError}. */
  async _unwrap<T>(call: Promise<FetchResult<T>>): Promise<T> {
    const { data, error, response } = await call
    if (!response.ok) throw APIError.of(response.status, error, response.headers)
    return data as T
  }

  async #transport(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname
    if (UNFILLED_PARAMETER.test(path)) {
      // e.g. a view asking for its workspace's data as it leaves it: the slug is gone
      throw new TypeError(`a path parameter is missing: ${decodeURIComponent(path)}`)
    }
    const idempotent = request.method === 'GET' || request.method === 'HEAD'
    let refreshed = false
    for (let attempt = 0; ; attempt++) {
      const credential = this.#credential(request)
      let response: Response
      try {
        response = await this.#once(request, credential, idempotent)
      } catch (error) {
        if (error instanceof APIConnectionError && idempotent && attempt < this.maxRetries) {
          await sleep(backoff(attempt))
          continue
        }
        throw error
      }
      if (response.status === 401 && !refreshed && this.#mayRefresh(request, credential)) {
        refreshed = true
        if (await this.#refresh(credential as string)) {
          attempt -= 1 // a refresh is not a retry
          continue
        }
        return response
      }
      if (idempotent && attempt < this.maxRetries && RETRYABLE_STATUS.has(response.status)) {
        await response.body?.cancel()
        await sleep(retryDelay(response, attempt))
        continue
      }
      return response
    }
  }

  async #once(request: Request, credential: string | null, idempotent: boolean): Promise<Response> {
    const attempt = request.clone()
    if (credential) attempt.headers.set('Authorization', `Bearer ${credential}`)
    if (idempotent && this.#readYourWrites && this.#position > 0) {
      attempt.headers.set('X-Consistent-After', String(this.#position))
    }
    // A stream (server-sent events) has no end in time: the timeout covers its opening only.
    const streaming = request.headers.get('accept')?.includes('text/event-stream') ?? false
    const opening = new AbortController()
    const timer = streaming ? setTimeout(() => opening.abort(), this.timeout) : undefined
    const timeout = streaming ? opening.signal : AbortSignal.timeout(this.timeout)
    const signal = AbortSignal.any([request.signal, timeout])
    try {
      return await this.#fetch(attempt, { signal })
    } catch (error) {
      if (request.signal.aborted) throw error // the caller cancelled: not our failure
      if (timeout.aborted) throw new APITimeoutError({ cause: error })
      throw new APIConnectionError(undefined, { cause: error })
    } finally {
      clearTimeout(timer)
    }
  }

  #credential(request: Request): string | null {
    if (SESSIONLESS.test(new URL(request.url).pathname)) return null
    return this.session.load()?.accessToken ?? this.#apiKey
  }

  /**
   * Whether a 401 calls for a refresh: the call carried a session's access token. When a
   * concurrent call has refreshed the session since this one was sent, `#refresh` sees the
   * newer token and this call is simply retried with it.
   */
  #mayRefresh(request: Request, credential: string | null): boolean {
    const session = this.session.load()
    return (
      credential !== null &&
      credential !== this.#apiKey &&
      session !== null &&
      !SESSIONLESS.test(new URL(request.url).pathname)
    )
  }

  /** One refresh at a time per client (and per store, across tabs); true if a new pair is stored. */
  #refresh(failedAccessToken: string): Promise<boolean> {
    this.#refreshing ??= this.#refreshExclusive(failedAccessToken).finally(() => {
      this.#refreshing = null
    })
    return this.#refreshing
  }

  async #refreshExclusive(failedAccessToken: string): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      const current = this.session.load()
      if (current === null) return false
      if (current.accessToken !== failedAccessToken) return true // another tab refreshed
      const response = await this.#fetch(
        new Request(`${this.#origin}/api/v1/auth/refresh`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ refresh_token: current.refreshToken }),
          signal: AbortSignal.timeout(this.timeout),
        }),
      ).catch((error: unknown) => {
        throw new APIConnectionError(undefined, { cause: error })
      })
      if (!response.ok) {
        await response.body?.cancel()
        if (response.status >= 500) return false // the server's trouble: keep the session
        this.session.save(null)
        this.#onSessionEnded?.()
        return false
      }
      const pair = (await response.json()) as { access_token: string; refresh_token: string }
      this.session.save({ accessToken: pair.access_token, refreshToken: pair.refresh_token })
      return true
    }
    return this.session.exclusive ? this.session.exclusive(run) : run()
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** 0.5 s, 1 s, 2 s … capped at 8 s, with up to 25 % jitter. */
export function backoff(attempt: number): number {
  const base = Math.min(500 * 2 ** attempt, 8_000)
  return base * (1 - Math.random() * 0.25)
}

/** The server's `Retry-After` (seconds, capped at 10) if it sent one, else {@link backoff}. */
export function retryDelay(response: Response, attempt: number): number {
  const header = response.headers.get('retry-after')
  const seconds = header === null ? Number.NaN : Number(header)
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds, 10) * 1000 : backoff(attempt)
}
