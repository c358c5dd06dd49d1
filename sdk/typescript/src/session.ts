/** Where a signed-in person's tokens live between calls (and, in a browser, between visits). */

/** The pair the API issues at sign-in and on every refresh. */
export interface SessionTokens {
  accessToken: string
  refreshToken: string
}

/** Keeps the session's tokens; the client reads them before each call and saves rotations. */
export interface SessionStore {
  /** The current tokens, or `null` when signed out. */
  load(): SessionTokens | null
  /** Replace the tokens; `null` signs out. */
  save(tokens: SessionTokens | null): void
  /**
   * Run `refresh` while no other holder of the same store refreshes (e.g. another browser
   * tab): a refresh token works once, and a second use ends the session.
   */
  exclusive?<T>(refresh: () => Promise<T>): Promise<T>
}

/** Tokens in memory: for scripts and tests. */
export class MemorySessionStore implements SessionStore {
  #tokens: SessionTokens | null

  constructor(tokens: SessionTokens | null = null) {
    this.#tokens = tokens
  }

  load(): SessionTokens | null {
    return this.#tokens
  }

  save(tokens: SessionTokens | null): void {
    this.#tokens = tokens
  }
}

/** Tokens in `localStorage`, shared by the tabs of one origin; refreshes take a Web Lock. */
export class LocalStorageSessionStore implements SessionStore {
  constructor(
    private readonly key = 'mcps.session',
    private readonly storage: Storage = globalThis.localStorage,
  ) {}

  load(): SessionTokens | null {
    const raw = this.storage.getItem(this.key)
    if (!raw) return null
    try {
      const value = JSON.parse(raw) as Partial<SessionTokens>
      if (typeof value.accessToken === 'string' && typeof value.refreshToken === 'string') {
        return { accessToken: value.accessToken, refreshToken: value.refreshToken }
      }
    } catch {
      // A damaged entry is a signed-out session, not a crash.
    }
    return null
  }

  save(tokens: SessionTokens | null): void {
    if (tokens) this.storage.setItem(this.key, JSON.stringify(tokens))
    else this.storage.removeItem(this.key)
  }

  exclusive<T>(refresh: () => Promise<T>): Promise<T> {
    const locks = (globalThis.navigator as Navigator | undefined)?.locks
    if (!locks) return refresh()
    return locks.request(`${this.key}.refresh`, refresh) as Promise<T>
  }
}
