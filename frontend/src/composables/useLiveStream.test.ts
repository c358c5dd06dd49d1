import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { effectScope } from 'vue'

import { useLiveStream } from './useLiveStream'
import type { Polling } from './usePolling'

interface Change {
  id: string
  value: number
}

/** Streams the test drives: each `open` gets the next one, and records the id it resumed after. */
function streams() {
  const opened: (string | undefined)[] = []
  const scripts: ((signal: AbortSignal) => AsyncGenerator<Change>)[] = []
  function open(lastEventId: string | undefined, signal: AbortSignal): AsyncIterable<Change> {
    opened.push(lastEventId)
    const next = scripts.shift()
    if (!next) return (async function* () {
      await new Promise((resolve) => signal.addEventListener('abort', resolve))
    })()
    return next(signal)
  }
  return { open, opened, then: (script: (signal: AbortSignal) => AsyncGenerator<Change>) => scripts.push(script) }
}

function fakePolling(): Polling & { started: number; stopped: number } {
  const polling = {
    started: 0,
    stopped: 0,
    start: () => void (polling.started += 1),
    stop: () => void (polling.stopped += 1),
    poke: async () => undefined,
  }
  return polling
}

class Refused extends Error {
  status = 404
}

describe('useLiveStream', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('applies each event and reopens after the last one when the stream ends', async () => {
    const s = streams()
    s.then(async function* () {
      yield { id: '5', value: 1 }
      yield { id: '9', value: 2 }
    })
    s.then(async function* () {
      yield { id: '12', value: 3 }
    })
    const seen: number[] = []
    const polling = fakePolling()
    const live = effectScope().run(() => useLiveStream(s.open, (e) => seen.push(e.value), polling, { retryMs: 100 }))!
    live.start()
    expect(live.state.value).toBe('live')
    await vi.advanceTimersByTimeAsync(100)
    await vi.advanceTimersByTimeAsync(100)
    expect(seen).toEqual([1, 2, 3])
    expect(s.opened).toEqual([undefined, '9', '12'])
    expect(polling.started).toBe(0)
    live.stop()
    expect(live.state.value).toBe('idle')
  })

  it('retries a broken stream with backoff, then falls back to polling', async () => {
    const s = streams()
    for (let i = 0; i < 3; i++) {
      s.then(async function* () {
        yield* []
        throw new TypeError('network')
      })
    }
    const polling = fakePolling()
    const live = effectScope().run(() => useLiveStream(s.open, () => undefined, polling, { retryMs: 100, maxFailures: 3 }))!
    live.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(s.opened).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(100)
    expect(s.opened).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(150)
    expect(s.opened).toHaveLength(2) // the second wait is 200 ms
    await vi.advanceTimersByTimeAsync(50)
    expect(s.opened).toHaveLength(3)
    expect(live.state.value).toBe('polling')
    expect(polling.started).toBe(1)
  })

  it('an event between failures resets the count, and a refusal polls at once', async () => {
    const s = streams()
    s.then(async function* () {
      yield { id: '1', value: 1 }
      throw new TypeError('network')
    })
    s.then(async function* () {
      yield { id: '2', value: 2 }
      throw new TypeError('network')
    })
    s.then(async function* () {
      yield* []
      throw new Refused('gone')
    })
    const polling = fakePolling()
    const live = effectScope().run(() => useLiveStream(s.open, () => undefined, polling, { retryMs: 10, maxFailures: 2 }))!
    live.start()
    await vi.advanceTimersByTimeAsync(100)
    expect(s.opened).toEqual([undefined, '1', '2'])
    expect(live.state.value).toBe('polling')
    expect(polling.started).toBe(1)
  })

  it('stop cancels the stream and the polling', async () => {
    const s = streams()
    let aborted = false
    s.then(async function* (signal) {
      signal.addEventListener('abort', () => (aborted = true))
      yield { id: '1', value: 1 }
      await new Promise((resolve) => signal.addEventListener('abort', resolve))
    })
    const polling = fakePolling()
    const scope = effectScope()
    const live = scope.run(() => useLiveStream(s.open, () => undefined, polling))!
    live.start()
    await vi.advanceTimersByTimeAsync(0)
    scope.stop()
    expect(aborted).toBe(true)
    expect(polling.stopped).toBeGreaterThan(0)
    expect(live.state.value).toBe('idle')
  })
})
