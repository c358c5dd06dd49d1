import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'

const sdk = vi.hoisted(() => ({
  client: {
    signedIn: true,
    me: { retrieve: vi.fn() },
    admin: { access: vi.fn() },
  },
}))

vi.mock('@/api/client', () => ({
  SESSION_KEY: 'mcps.session',
  client: sdk.client,
  onSessionEnded: () => () => undefined,
}))

const { useAdminStore } = await import('./admin')
const { useSessionStore } = await import('./session')

function person(userId: string) {
  return {
    user_id: userId,
    email: `${userId}@example.com`,
    username: userId,
    display_name: userId,
    email_verified: true,
    personal_tenant: userId,
    tenants: [],
  }
}

describe('admin store', () => {
  beforeEach(() => {
    setActivePinia(createPinia())
    vi.clearAllMocks()
    sdk.client.signedIn = true
    sdk.client.me.retrieve.mockResolvedValue(person('ops'))
  })

  it('asks once, and concurrent callers share the request', async () => {
    sdk.client.admin.access.mockResolvedValue({ platform_admin: true })
    const admin = useAdminStore()
    expect(admin.platformAdmin).toBe(false)
    const answers = await Promise.all([admin.load(), admin.load(), admin.load()])
    expect(answers).toEqual([true, true, true])
    expect(await admin.load()).toBe(true)
    expect(sdk.client.admin.access).toHaveBeenCalledTimes(1)
    expect(admin.platformAdmin).toBe(true)
  })

  it('asks again for another person, and forgets the operator when they sign out', async () => {
    sdk.client.admin.access.mockResolvedValueOnce({ platform_admin: true })
    const admin = useAdminStore()
    const session = useSessionStore()
    expect(await admin.load()).toBe(true)

    session.me = person('ada')
    expect(admin.platformAdmin).toBe(false)
    sdk.client.admin.access.mockResolvedValueOnce({ platform_admin: false })
    expect(await admin.load()).toBe(false)
    expect(sdk.client.admin.access).toHaveBeenCalledTimes(2)

    sdk.client.signedIn = false
    session.forget()
    expect(await admin.load()).toBe(false)
    expect(admin.platformAdmin).toBe(false)
    expect(sdk.client.admin.access).toHaveBeenCalledTimes(2)
  })

  it('passes an error on and asks again next time', async () => {
    sdk.client.admin.access.mockRejectedValueOnce(new Error('offline'))
    const admin = useAdminStore()
    await expect(admin.load()).rejects.toThrow('offline')
    sdk.client.admin.access.mockResolvedValueOnce({ platform_admin: true })
    expect(await admin.load()).toBe(true)
  })
})
