import { APIError } from '@mcps/sdk'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'

const sdk = vi.hoisted(() => {
  let signedIn = false
  const listeners: (() => void)[] = []
  return {
    listeners,
    setSignedIn: (value: boolean) => (signedIn = value),
    client: {
      get signedIn() {
        return signedIn
      },
      me: { retrieve: vi.fn() },
      auth: {
        login: vi.fn(async () => {
          signedIn = true
        }),
        logout: vi.fn(async () => {
          signedIn = false
        }),
      },
    },
  }
})

vi.mock('@/api/client', () => ({
  SESSION_KEY: 'mcps.session',
  client: sdk.client,
  onSessionEnded: (listener: () => void) => sdk.listeners.push(listener),
}))

const { roleAtLeast, useSessionStore } = await import('./session')

const me = {
  user_id: 'u1',
  email: 'ada@example.com',
  username: 'ada',
  display_name: 'Ada',
  email_verified: true,
  personal_tenant: 'ada',
  tenants: [
    { tenant_id: 't0', slug: 'ada', name: 'ada', kind: 'personal', role: 'owner' },
    { tenant_id: 't1', slug: 'acme', name: 'Acme', kind: 'team', role: 'member' },
  ],
}

describe('session store', () => {
  beforeEach(() => {
    setActivePinia(createPinia())
    sdk.setSignedIn(false)
    sdk.listeners.length = 0
    vi.clearAllMocks()
    sdk.client.me.retrieve.mockResolvedValue(me)
  })

  it('signs in, loads who is signed in, and indexes their workspaces by slug', async () => {
    const session = useSessionStore()
    expect(session.signedIn).toBe(false)
    await session.signIn('ada@example.com', 'secret')
    expect(session.signedIn).toBe(true)
    expect(session.personal?.slug).toBe('ada')
    expect(session.teams.map((t) => t.slug)).toEqual(['acme'])
    expect(session.roleIn('acme')).toBe('member')
    expect(session.roleIn('nowhere')).toBeNull()
  })

  it('shares one request between concurrent loads', async () => {
    sdk.setSignedIn(true)
    const session = useSessionStore()
    const [a, b, c] = await Promise.all([session.load(), session.load(), session.load()])
    expect(a).toBe(me)
    expect(b).toBe(me)
    expect(c).toBe(me)
    expect(sdk.client.me.retrieve).toHaveBeenCalledTimes(1)
    await session.load()
    expect(sdk.client.me.retrieve).toHaveBeenCalledTimes(1)
    await session.load(true)
    expect(sdk.client.me.retrieve).toHaveBeenCalledTimes(2)
  })

  it('forgets the person when the server no longer knows the session', async () => {
    sdk.setSignedIn(true)
    const session = useSessionStore()
    sdk.client.me.retrieve.mockRejectedValue(
      APIError.of(401, { type: 't', title: 'Unauthorized', status: 401, code: 'auth.token_invalid' }, new Headers()),
    )
    sdk.setSignedIn(false) // the SDK dropped the tokens after its refresh failed
    expect(await session.load(true)).toBeNull()
    expect(session.me).toBeNull()
  })

  it('marks a session the server ended, so sign-in can say why', async () => {
    const session = useSessionStore()
    await session.signIn('ada@example.com', 'secret')
    sdk.setSignedIn(false)
    sdk.listeners.forEach((listener) => listener())
    expect(session.endedByServer).toBe(true)
    expect(session.signedIn).toBe(false)
    expect(session.me).toBeNull()
  })

  it('signs out locally even when the server cannot be reached', async () => {
    const session = useSessionStore()
    await session.signIn('ada@example.com', 'secret')
    sdk.client.auth.logout.mockImplementationOnce(async () => {
      sdk.setSignedIn(false)
      throw new Error('offline')
    })
    await expect(session.signOut()).rejects.toThrow('offline')
    expect(session.signedIn).toBe(false)
    expect(session.me).toBeNull()
  })
})

describe('roleAtLeast', () => {
  it('orders viewer < member < admin < owner', () => {
    expect(roleAtLeast('owner', 'admin')).toBe(true)
    expect(roleAtLeast('admin', 'admin')).toBe(true)
    expect(roleAtLeast('member', 'admin')).toBe(false)
    expect(roleAtLeast('viewer', 'viewer')).toBe(true)
    expect(roleAtLeast(null, 'viewer')).toBe(false)
  })
})
