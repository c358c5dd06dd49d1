import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'

import { useSessionStore } from './session'
import { LAST_TENANT_KEY, useTenantStore } from './tenant'

describe('tenant store', () => {
  beforeEach(() => {
    localStorage.clear()
    setActivePinia(createPinia())
    useSessionStore().me = {
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
  })

  it('follows the workspace in view, with the route prefix and role of the caller', () => {
    const tenant = useTenantStore()
    tenant.enter('acme')
    expect(tenant.current?.name).toBe('Acme')
    expect(tenant.params).toEqual({ kind: 't', slug: 'acme' })
    expect(tenant.isPersonal).toBe(false)
    expect(tenant.can('member')).toBe(true)
    expect(tenant.can('admin')).toBe(false)

    tenant.enter('ada')
    expect(tenant.params).toEqual({ kind: 'u', slug: 'ada' })
    expect(tenant.can('owner')).toBe(true)
  })

  it('remembers the last workspace across visits, and nothing for pages outside one', async () => {
    const tenant = useTenantStore()
    tenant.enter('acme')
    tenant.enter(null)
    expect(tenant.current).toBeNull()
    expect(tenant.lastSlug).toBe('acme')
    await Promise.resolve()
    expect(localStorage.getItem(LAST_TENANT_KEY)).toBe('acme')

    setActivePinia(createPinia())
    expect(useTenantStore().lastSlug).toBe('acme')
  })

  it('grants nothing in a workspace the caller does not belong to', () => {
    const tenant = useTenantStore()
    tenant.enter('elsewhere')
    expect(tenant.current).toBeNull()
    expect(tenant.can('viewer')).toBe(false)
  })
})
