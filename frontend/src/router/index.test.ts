import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'

const sdk = vi.hoisted(() => ({ signedIn: false, retrieve: vi.fn() }))

vi.mock('@/api/client', () => ({
  SESSION_KEY: 'mcps.session',
  client: {
    get signedIn() {
      return sdk.signedIn
    },
    me: { retrieve: sdk.retrieve },
  },
  onSessionEnded: () => () => {},
}))

const { createAppRouter } = await import('./index')
const { useTenantStore } = await import('@/stores/tenant')

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

async function landOn(path: string) {
  const router = createAppRouter()
  await router.push(path)
  return router.currentRoute.value
}

describe('the route guards', () => {
  beforeEach(() => {
    localStorage.clear()
    setActivePinia(createPinia())
    sdk.signedIn = true
    sdk.retrieve.mockReset().mockResolvedValue(me)
  })

  it('send a stranger to sign in, and back afterwards', async () => {
    sdk.signedIn = false
    const route = await landOn('/t/acme/tokens')
    expect(route.name).toBe('auth.signin')
    expect(route.query['redirect']).toBe('/t/acme/tokens')
  })

  it('keep a signed-in person away from sign-in and sign-up', async () => {
    expect((await landOn('/signin')).name).toBe('dashboard.home')
  })

  it('open the personal dashboard from the front door', async () => {
    const route = await landOn('/')
    expect(route.name).toBe('dashboard.home')
    expect(route.params).toEqual({ kind: 'u', slug: 'ada' })
  })

  it('let a member see tokens but not the audit log', async () => {
    expect((await landOn('/t/acme/tokens')).name).toBe('tokens.list')
    const route = await landOn('/t/acme/audit')
    expect(route.name).toBe('errors.forbidden')
    expect(route.query['from']).toBe('/t/acme/audit')
  })

  it('fix the prefix of a workspace: /u is personal, /t a team', async () => {
    expect((await landOn('/u/acme/dashboard')).fullPath).toBe('/t/acme/dashboard')
  })

  it('look once more for a workspace joined elsewhere, then say it is not there', async () => {
    const route = await landOn('/t/elsewhere/dashboard')
    expect(route.name).toBe('errors.notFound')
    expect(sdk.retrieve).toHaveBeenCalledTimes(2)
  })

  it('leave public pages open to everyone', async () => {
    sdk.signedIn = false
    expect((await landOn('/verify-email?token=x')).name).toBe('auth.verify')
    expect((await landOn('/reset-password?token=x')).name).toBe('auth.reset.confirm')
  })

  it('open the marketplace to strangers, but not its deploy wizard', async () => {
    sdk.signedIn = false
    expect((await landOn('/marketplace?q=time')).name).toBe('marketplace.list')
    expect((await landOn('/marketplace/time')).name).toBe('marketplace.detail')
    const route = await landOn('/marketplace/time/deploy')
    expect(route.name).toBe('auth.signin')
    expect(route.query['redirect']).toBe('/marketplace/time/deploy')
  })

  it('keep the last workspace in the menu while a signed-in person shops', async () => {
    localStorage.setItem('mcps.lastTenant', 'acme')
    setActivePinia(createPinia())
    expect((await landOn('/marketplace/time/deploy')).name).toBe('marketplace.deploy')
    expect(useTenantStore().slug).toBe('acme')
  })
})
