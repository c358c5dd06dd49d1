import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { effectScope } from 'vue'

import { useLogTail } from './useLogTail'

/** A stream the test feeds by hand, which ends or fails when told, and sees cancellation. */
function manualStream<T>() {
  const queue: T[] = []
  let wake: (() => void) | null = null
  let ended = false
  let failure: unknown = null
  let cancelled = false
  async function* open(signal: AbortSignal): AsyncGenerator<T> {
    signal.addEventListener('abort', () => {
      cancelled = true
      wake?.()
    })
    for (;;) {
      while (queue.length) yield queue.shift() as T
      if (failure) throw failure
      if (ended || signal.aborted) return
      await new Promise<void>((resolve) => (wake = resolve))
    }
  }
  return {
    open,
    push: (...items: T[]) => {
      queue.push(...items)
      wake?.()
    },
    end: () => {
      ended = true
      wake?.()
    },
    fail: (error: unknown) => {
      failure = error
      wake?.()
    },
    get cancelled() {
      return cancelled
    },
  }
}

describe('useLogTail', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('shows lines in batches and keeps only the newest', async () => {
    const stream = manualStream<number>()
    const tail = effectScope().run(() => useLogTail(stream.open, { max: 3, batchMs: 100 }))!
    void tail.start()
    stream.push(1, 2)
    await vi.advanceTimersByTimeAsync(50)
    expect(tail.lines.value).toEqual([])
    stream.push(3)
    await vi.advanceTimersByTimeAsync(50)
    expect(tail.lines.value).toEqual([1, 2, 3])
    expect(tail.state.value).toBe('live')
    stream.push(4, 5)
    await vi.advanceTimersByTimeAsync(100)
    expect(tail.lines.value).toEqual([3, 4, 5])
    expect(tail.dropped.value).toBe(2)
    stream.end()
    await vi.advanceTimersByTimeAsync(0)
    expect(tail.state.value).toBe('ended')
  })

  it('says when the stream failed, and starts over on demand', async () => {
    let stream = manualStream<string>()
    const tail = effectScope().run(() => useLogTail((signal) => stream.open(signal)))!
    void tail.start()
    stream.push('a')
    stream.fail(new Error('gone'))
    await vi.advanceTimersByTimeAsync(0)
    expect(tail.state.value).toBe('failed')
    expect(tail.lines.value).toEqual(['a']) // what arrived before the failure stays
    expect((tail.error.value as Error).message).toBe('gone')

    stream = manualStream<string>()
    void tail.start()
    expect(tail.lines.value).toEqual([])
    expect(tail.error.value).toBeNull()
    stream.push('b')
    await vi.advanceTimersByTimeAsync(200)
    expect(tail.lines.value).toEqual(['b'])
  })

  it('cancels the stream when stopped or when the view goes away', async () => {
    const first = manualStream<string>()
    const scope = effectScope()
    const tail = scope.run(() => useLogTail(first.open))!
    void tail.start()
    await vi.advanceTimersByTimeAsync(0)
    tail.stop()
    await vi.advanceTimersByTimeAsync(0)
    expect(first.cancelled).toBe(true)
    expect(tail.state.value).toBe('ended')

    const second = manualStream<string>()
    const other = scope.run(() => useLogTail(second.open))!
    void other.start()
    await vi.advanceTimersByTimeAsync(0)
    scope.stop()
    await vi.advanceTimersByTimeAsync(0)
    expect(second.cancelled).toBe(true)
  })
})
