import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { effectScope } from 'vue'

import { usePolling } from './usePolling'

function setVisibility(state: 'visible' | 'hidden'): void {
  Object.defineProperty(document, 'visibilityState', { value: state, configurable: true })
  document.dispatchEvent(new Event('visibilitychange'))
}

describe('usePolling', () => {
  beforeEach(() => {
    vi.useFakeTimers()
    setVisibility('visible')
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('ticks at once, then after the delay the last answer asked for, until stopped', async () => {
    const delays = [1000, 5000, null]
    let ticks = 0
    const scope = effectScope()
    const polling = scope.run(() =>
      usePolling(
        async () => {
          ticks += 1
        },
        () => delays[ticks - 1] ?? null,
      ),
    )!
    polling.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(ticks).toBe(1)
    await vi.advanceTimersByTimeAsync(999)
    expect(ticks).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(ticks).toBe(2)
    await vi.advanceTimersByTimeAsync(5000)
    expect(ticks).toBe(3)
    await vi.advanceTimersByTimeAsync(60_000)
    expect(ticks).toBe(3) // the last delay was null: done

    scope.stop() // leaving the view stops it for good
    await polling.poke()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(ticks).toBe(4) // only the poke
  })

  it('pauses while the tab is hidden and asks again as soon as it shows', async () => {
    let ticks = 0
    const polling = effectScope().run(() => usePolling(async () => void ticks++, () => 1000))!
    polling.start()
    await vi.advanceTimersByTimeAsync(0)
    setVisibility('hidden')
    await vi.advanceTimersByTimeAsync(10_000)
    expect(ticks).toBe(1)
    setVisibility('visible')
    await vi.advanceTimersByTimeAsync(0)
    expect(ticks).toBe(2)
    polling.stop()
  })

  it('runs one tick at a time: a poke during a tick runs once after it', async () => {
    let ticks = 0
    let release: () => void = () => undefined
    const polling = effectScope().run(() =>
      usePolling(
        () => {
          ticks += 1
          return new Promise<void>((resolve) => (release = resolve))
        },
        () => 1000,
      ),
    )!
    polling.start()
    void polling.poke()
    void polling.poke()
    expect(ticks).toBe(1)
    release()
    await vi.advanceTimersByTimeAsync(0)
    expect(ticks).toBe(2)
    release()
    await vi.advanceTimersByTimeAsync(0)
    expect(ticks).toBe(2)
    polling.stop()
  })

  it('keeps going after a failed tick', async () => {
    let ticks = 0
    const polling = effectScope().run(() =>
      usePolling(async () => {
        ticks += 1
        throw new Error('offline')
      }, () => 500),
    )!
    polling.start()
    await vi.advanceTimersByTimeAsync(1000)
    expect(ticks).toBe(3)
    polling.stop()
  })
})
