/**
 * An infinitely scrolled list over a cursor-paged API: pages append as the end comes into
 * view; `reset` starts over (new filters) and drops answers of the previous generation.
 */
import type { CursorPage } from '@mcps/sdk'
import { computed, nextTick, onScopeDispose, ref, shallowRef } from 'vue'

import { currentNavigation, markDataVisible } from './usePageTiming'

export function useCursorList<Item>(first: (signal: AbortSignal) => Promise<CursorPage<Item>>) {
  const items = shallowRef<Item[]>([])
  const page = shallowRef<CursorPage<Item> | null>(null)
  const loading = ref(false)
  const error = shallowRef<unknown>(null)
  const started = ref(false)
  const done = computed(() => page.value !== null && !page.value.hasNextPage())
  const navigation = currentNavigation()
  let controller = new AbortController()
  let inflight: Promise<void> | null = null

  function loadMore(): Promise<void> {
    if (inflight) return inflight
    if (done.value || (started.value && page.value === null && error.value === null)) {
      return Promise.resolve()
    }
    const own = controller
    loading.value = true
    error.value = null
    const run = (async () => {
      try {
        const next = page.value ? await page.value.getNextPage() : await first(own.signal)
        if (own.signal.aborted) return
        page.value = next
        items.value = [...items.value, ...next.data]
        await nextTick()
        markDataVisible(navigation)
      } catch (caught) {
        if (!own.signal.aborted) error.value = caught
      } finally {
        if (own === controller) {
          loading.value = false
          inflight = null
        }
      }
    })()
    started.value = true
    inflight = run
    return run
  }

  function reset(): Promise<void> {
    controller.abort()
    controller = new AbortController()
    inflight = null
    items.value = []
    page.value = null
    error.value = null
    started.value = false
    return loadMore()
  }

  onScopeDispose(() => controller.abort())

  return { items, loading, error, done, loadMore, reset }
}
