import { describe, expect, it, vi } from 'vitest'
import { effectScope } from 'vue'

import { useLoader } from './useLoader'

function deferred<T>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((ok, fail) => {
    resolve = ok
    reject = fail
  })
  return { promise, resolve, reject }
}

function inScope<T>(make: () => T): T {
  return effectScope().run(make) as T
}

describe('useLoader', () => {
  it('shares one load between concurrent callers', async () => {
    const load = vi.fn(async () => 42)
    const loader = inScope(() => useLoader(load))
    await Promise.all([loader.reload(), loader.reload(), loader.reload()])
    expect(load).toHaveBeenCalledTimes(1)
    expect(loader.data.value).toBe(42)
    expect(loader.loading.value).toBe(false)
  })

  it('cancels the load under way when forced, and keeps only the newer answer', async () => {
    const answers = [deferred<string>(), deferred<string>()]
    const signals: AbortSignal[] = []
    const loader = inScope(() =>
      useLoader((signal) => {
        signals.push(signal)
        return answers[signals.length - 1]!.promise
      }),
    )
    const first = loader.reload()
    const second = loader.reload(true)
    expect(signals[0]!.aborted).toBe(true)
    answers[1]!.resolve('new')
    answers[0]!.resolve('old')
    await Promise.all([first, second])
    expect(loader.data.value).toBe('new')
  })

  it('keeps the error of a failed load and clears it on success', async () => {
    let fail = true
    const loader = inScope(() =>
      useLoader(async () => {
        if (fail) throw new Error('down')
        return 'up'
      }),
    )
    await loader.reload()
    expect((loader.error.value as Error).message).toBe('down')
    fail = false
    await loader.reload()
    expect(loader.error.value).toBeNull()
    expect(loader.data.value).toBe('up')
  })

  it('aborts its load when the view goes away', async () => {
    let seen: AbortSignal | undefined
    const scope = effectScope()
    const loader = scope.run(() =>
      useLoader((signal) => {
        seen = signal
        return new Promise(() => {})
      }),
    )!
    void loader.reload()
    scope.stop()
    expect(seen?.aborted).toBe(true)
  })
})
