/** A copy of `source` that takes its value once it has stayed unchanged for `ms` (a search box being typed in). */
import { onScopeDispose, shallowRef, watch, type Ref } from 'vue'

export function useDebounced<T>(source: Ref<T>, ms: number): Readonly<Ref<T>> {
  const settled = shallowRef(source.value)
  let timer: ReturnType<typeof setTimeout> | undefined
  watch(source, (value) => {
    clearTimeout(timer)
    timer = setTimeout(() => (settled.value = value), ms)
  })
  onScopeDispose(() => clearTimeout(timer))
  return settled
}
