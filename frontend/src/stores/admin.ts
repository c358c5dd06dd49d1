/**
 * Whether the signed-in person is a platform operator: the router's guard for the admin
 * console's operator pages and the console's sub-navigation read it. Asked once per person;
 * concurrent callers share one request.
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'

import { client } from '@/api/client'

import { useSessionStore } from './session'

export const useAdminStore = defineStore('admin', () => {
  const session = useSessionStore()
  /** The answer, and whose it is: a different person signing in asks again. */
  const answer = ref<{ userId: string; platformAdmin: boolean } | null>(null)
  let loading: Promise<boolean> | null = null

  const platformAdmin = computed(
    () => answer.value !== null && answer.value.userId === session.me?.user_id && answer.value.platformAdmin,
  )

  /** Ask the API (once per person); false when signed out or when the answer is an error. */
  async function load(force = false): Promise<boolean> {
    const me = await session.load()
    if (!me) return false
    if (!force && answer.value?.userId === me.user_id) return answer.value.platformAdmin
    loading ??= client.admin
      .access()
      .then(({ platform_admin }) => {
        answer.value = { userId: me.user_id, platformAdmin: platform_admin }
        return platform_admin
      })
      .finally(() => {
        loading = null
      })
    return loading
  }

  return { platformAdmin, load }
})
