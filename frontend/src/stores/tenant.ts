/** The workspace being looked at (from the route), and the last one, to come back to it. */
import type { Role } from '@mcps/sdk'
import { defineStore, storeToRefs } from 'pinia'
import { computed, ref, watch } from 'vue'

import { roleAtLeast, useSessionStore } from './session'

export const LAST_TENANT_KEY = 'mcps.lastTenant'

export const useTenantStore = defineStore('tenant', () => {
  const session = useSessionStore()
  const { tenantsBySlug } = storeToRefs(session)
  const slug = ref<string | null>(null)
  const lastSlug = ref<string | null>(localStorage.getItem(LAST_TENANT_KEY))

  const current = computed(() => (slug.value ? (tenantsBySlug.value.get(slug.value) ?? null) : null))
  const role = computed(() => (current.value?.role as Role | undefined) ?? null)
  const isPersonal = computed(() => current.value?.kind === 'personal')
  /** The route prefix of the current workspace: `/u/name` or `/t/slug`. */
  const params = computed(() =>
    current.value ? { kind: current.value.kind === 'personal' ? 'u' : 't', slug: current.value.slug } : null,
  )

  function can(wanted: Role): boolean {
    return roleAtLeast(role.value, wanted)
  }

  function enter(value: string | null): void {
    slug.value = value
    if (value) lastSlug.value = value
  }

  watch(lastSlug, (value) => {
    if (value) localStorage.setItem(LAST_TENANT_KEY, value)
  })

  return { slug, lastSlug, current, role, isPersonal, params, can, enter }
})
