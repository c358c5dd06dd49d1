/**
 * A view's data through the SDK: one load at a time (concurrent callers share it), the
 * previous one cancelled when a reload is forced, and the page timing mark on first data.
 */
import { nextTick, onScopeDispose, ref, shallowRef, type Ref, type ShallowRef } from 'vue'

import { currentNavigation, markDataVisible } from './usePageTiming'

export interface Loader<T> {
  data: ShallowRef<T | null>
  error: ShallowRef<unknown>
  loading: Ref<boolean>
  /** Load unless a load is under way; `force` cancels it and starts over (e.g. new params). */
  reload: (force?: boolean) => Promise<void>
}

export function useLoader<T>(load: (signal: AbortSignal) => Promise<T>): Loader<T> {
  const data = shallowRef<T | null>(null)
  const error = shallowRef<unknown>(null)
  const loading = ref(false)
  const navigation = currentNavigation()
  let controller: AbortController | null = null
  let inflight: Promise<void> | null = null

  function reload(force = false): Promise<void> {
    if (inflight && !force) return inflight
    controller?.abort()
    const own = new AbortController()
    controller = own
    loading.value = true
    const run = (async () => {
      try {
        const value = await load(own.signal)
        if (own.signal.aborted) return
        data.value = value
        error.value = null
        await nextTick()
        markDataVisible(navigation)
      } catch (caught) {
        if (!own.signal.aborted) error.value = caught
      } finally {
        if (controller === own) {
          loading.value = false
          inflight = null
        }
      }
    })()
    inflight = run
    return run
  }

  onScopeDispose(() => controller?.abort())

  return { data, error, loading, reload }
}
