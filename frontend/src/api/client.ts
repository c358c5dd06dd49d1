/**
 * The one configured SDK instance the SPA talks to the API through (STYLE.md R20, R24).
 * The session's tokens live in localStorage, shared by the tabs of this origin.
 */
import { LocalStorageSessionStore, McpsClient } from '@mcps/sdk'

export const SESSION_KEY = 'mcps.session'

const sessionEndedListeners = new Set<() => void>()

/** Called when the session can no longer be refreshed; returns an unsubscribe function. */
export function onSessionEnded(listener: () => void): () => void {
  sessionEndedListeners.add(listener)
  return () => sessionEndedListeners.delete(listener)
}

export const client = new McpsClient({
  session: new LocalStorageSessionStore(SESSION_KEY),
  onSessionEnded: () => sessionEndedListeners.forEach((listener) => listener()),
})
