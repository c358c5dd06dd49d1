import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { effectScope, nextTick, ref } from 'vue'

import { useDebounced } from './useDebounced'

describe('useDebounced', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('starts at the source, then takes only the value the source rests at', async () => {
    const typed = ref('')
    const scope = effectScope()
    const settled = scope.run(() => useDebounced(typed, 250))!
    for (const value of ['s', 'sh', 'sha']) {
      typed.value = value
      await nextTick()
      await vi.advanceTimersByTimeAsync(100)
    }
    expect(settled.value).toBe('')
    await vi.advanceTimersByTimeAsync(150)
    expect(settled.value).toBe('sha')
    scope.stop()
  })

  it('drops a pending value once its scope is disposed', async () => {
    const typed = ref('a')
    const scope = effectScope()
    const settled = scope.run(() => useDebounced(typed, 250))!
    typed.value = 'ab'
    await nextTick()
    scope.stop()
    await vi.advanceTimersByTimeAsync(1000)
    expect(settled.value).toBe('a')
  })
})
