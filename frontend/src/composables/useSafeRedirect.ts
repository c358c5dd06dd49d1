/** Where to go after signing in: the `redirect` query when it is a path of this app. */
import type { LocationQuery } from 'vue-router'

export function safeRedirect(query: LocationQuery): string | null {
  const value = query['redirect']
  if (typeof value !== 'string') return null
  // Only same-origin paths: "/x", never "//evil.example" or "https://…".
  return value.startsWith('/') && !value.startsWith('//') && !value.startsWith('/\\') ? value : null
}
