/** Who is signed in, and the workspaces (tenants) they belong to with their role in each. */
import type { Me, Membership, Role } from '@mcps/sdk'
import { AuthenticationError, ROLES } from '@mcps/sdk'
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'

import { client, onSessionEnded, SESSION_KEY } from '@/api/client'

/** Whether `role` is at least `wanted` (viewer < member < admin < owner). */
export function roleAtLeast(role: string | null | undefined, wanted: Role): boolean {
  return role != null && ROLES.indexOf(role as Role) >= ROLES.indexOf(wanted)
}

export const useSessionStore = defineStore('session', () => {
  const signedIn = ref(client.signedIn)
  const me = shallowRef<Me | null>(null)
  /** Set when the server ended the session, so sign-in can say why the user is back there. */
  const endedByServer = ref(false)
  let loading: Promise<Me | null> | null = null

  const tenants = computed<Membership[]>(() => me.value?.tenants ?? [])
  const tenantsBySlug = computed(() => new Map(tenants.value.map((t) => [t.slug, t])))
  const personal = computed(() => tenants.value.find((t) => t.kind === 'personal') ?? null)
  const teams = computed(() => tenants.value.filter((t) => t.kind === 'team'))

  function roleIn(slug: string): Role | null {
    return (tenantsBySlug.value.get(slug)?.role as Role | undefined) ?? null
  }

  /** The signed-in person, loaded once; concurrent callers share one request. */
  function load(force = false): Promise<Me | null> {
    if (!signedIn.value) return Promise.resolve(null)
    if (me.value && !force) return Promise.resolve(me.value)
    loading ??= client.me
      .retrieve()
      .then((value) => {
        me.value = value
        return value
      })
      .catch((error: unknown) => {
        if (error instanceof AuthenticationError) {
          forget()
          return null
        }
        throw error
      })
      .finally(() => {
        loading = null
      })
    return loading
  }

  async function signIn(email: string, password: string): Promise<Me | null> {
    await client.auth.login({ email, password })
    signedIn.value = true
    endedByServer.value = false
    return load(true)
  }

  async function signOut(): Promise<void> {
    try {
      await client.auth.logout()
    } finally {
      forget()
    }
  }

  function forget(): void {
    signedIn.value = client.signedIn
    me.value = null
  }

  onSessionEnded(() => {
    endedByServer.value = true
    forget()
  })

  // Another tab signed in or out: follow it.
  globalThis.addEventListener?.('storage', (event: StorageEvent) => {
    if (event.key !== SESSION_KEY) return
    const now = client.signedIn
    if (now !== signedIn.value) {
      signedIn.value = now
      me.value = null
    }
  })

  return {
    signedIn,
    me,
    endedByServer,
    tenants,
    tenantsBySlug,
    personal,
    teams,
    roleIn,
    load,
    signIn,
    signOut,
    forget,
  }
})
