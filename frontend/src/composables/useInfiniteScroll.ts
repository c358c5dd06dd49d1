/** Calls `more` while the sentinel element is within 300 px of the viewport and more exists. */
import { onScopeDispose, ref, watch, type Ref } from 'vue'

export function useInfiniteScroll(
  sentinel: Ref<HTMLElement | null>,
  more: () => Promise<void>,
  state: { loading: Ref<boolean>; done: Ref<boolean>; error: Ref<unknown> },
): void {
  const visible = ref(false)
  const observer =
    typeof IntersectionObserver === 'undefined'
      ? null
      : new IntersectionObserver((entries) => {
          visible.value = entries.some((entry) => entry.isIntersecting)
        }, { rootMargin: '300px' })

  watch(sentinel, (element, previous) => {
    if (previous) observer?.unobserve(previous)
    if (element) observer?.observe(element)
  }, { immediate: true })

  // Keep loading while the end stays in view: the observer only reports changes.
  watch([visible, state.loading, state.done], ([isVisible, isLoading, isDone]) => {
    if (isVisible && !isLoading && !isDone && !state.error.value) void more()
  })

  onScopeDispose(() => observer?.disconnect())
}
