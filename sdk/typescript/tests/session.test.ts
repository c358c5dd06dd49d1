/**
 * The refresh logic on its own, with a stand-in for the network (pure client logic: which
 * request carries which token, in which order); the live behaviour is in auth.test.ts.
 */
import { describe, expect, it } from 'vitest'

import { McpsClient, MemorySessionStore } from '../src'

describe('session refresh', () => {
  it('retries a call whose 401 arrives after a concurrent call already refreshed', async () => {
    const seen: string[] = []
    let refreshes = 0
    let releaseSlow: () => void = () => undefined
    const slowAnswered = new Promise<void>((resolve) => (releaseSlow = resolve))
    const fetch = async (request: Request): Promise<Response> => {
      const path = new URL(request.url).pathname
      if (path === '/api/v1/auth/refresh') {
        refreshes += 1
        return Response.json({ access_token: 'fresh', refresh_token: 'r2' })
      }
      const token = request.headers.get('authorization')?.slice(7) ?? ''
      seen.push(`${path} ${token}`)
      if (token !== 'fresh') {
        // The tenants call answers its 401 only once the refresh is done and stored.
        if (path === '/api/v1/tenants') await slowAnswered
        return Response.json({ code: 'auth.token_invalid', status: 401, title: 'x', type: 'x', detail: 'expired' }, { status: 401 })
      }
      return Response.json(path === '/api/v1/tenants' ? [] : { email: 'ada@example.com' })
    }
    const session = new MemorySessionStore()
    session.save({ accessToken: 'stale', refreshToken: 'r1' })
    const client = new McpsClient({ baseURL: 'http://api.test', session, fetch, maxRetries: 0 })

    const me = client.me.retrieve().then((value) => {
      releaseSlow()
      return value
    })
    const tenants = client.tenants.list()
    await expect(Promise.all([me, tenants])).resolves.toEqual([{ email: 'ada@example.com' }, []])
    expect(refreshes).toBe(1)
    expect(seen).toEqual(['/api/v1/me stale', '/api/v1/tenants stale', '/api/v1/me fresh', '/api/v1/tenants fresh'])
  })
})
