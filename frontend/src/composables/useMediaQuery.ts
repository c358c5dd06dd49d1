import { onScopeDispose, ref, type Ref } from 'vue'

/** Whether a CSS media query matches, kept up to date. */
export function useMediaQuery(query: string): Ref<boolean> {
  const list = globalThis.matchMedia?.(query)
  const matches = ref(list?.matches ?? false)
  const update = (event: MediaQueryListEvent) => (matches.value = event.matches)
  list?.addEventListener('change', update)
  onScopeDispose(() => list?.removeEventListener('change', update))
  return matches
}

/** Phones: the side menu becomes a drawer, tables become lists. */
export function useIsMobile(): Ref<boolean> {
  return useMediaQuery('(max-width: 767px)')
}
