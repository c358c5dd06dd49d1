/**
 * Runs a person's action on one item of a list at a time (suspend a tenant, remove a review):
 * `busy` holds the item's key while it runs, and the outcome shows as a message, a problem in
 * the reader's language.
 */
import { useMessage } from 'naive-ui'
import { ref, type Ref } from 'vue'
import { useI18n } from 'vue-i18n'

import { describeProblem } from './useProblem'

export function useAction<Key extends string>() {
  const { t, te } = useI18n()
  const message = useMessage()
  const busy = ref(null) as Ref<Key | null>

  /** Whether the action went through (`success` is then shown). */
  async function run(key: Key, action: () => Promise<unknown>, success: string): Promise<boolean> {
    busy.value = key
    try {
      await action()
      message.success(success)
      return true
    } catch (caught) {
      message.error(describeProblem(caught, t, te).message)
      return false
    } finally {
      busy.value = null
    }
  }

  return { busy, run }
}
