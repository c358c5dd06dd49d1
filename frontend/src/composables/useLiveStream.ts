/**
 * Follow a stream of changes (deployments' status, as server-sent events through the SDK) and
 * fall back to polling when it fails. Each event goes to `apply`; its `id` is kept, so a
 * stream that ends or breaks is opened again after the last event seen, missing nothing.
 * After `maxFailures` failures in a row without an event between them, or a refusal (4xx:
 * the polling shows that error), the view polls instead, as it did before the stream.
 */
import { onScopeDispose, ref } from 'vue'

import type { Polling } from './usePolling'

export type LiveState = 'idle' | 'live' | 'polling'

export interface LiveStreamOptions {
  /** Failures in a row before polling takes over. */
  maxFailures?: number
  /** The first retry's delay in ms; it doubles with each failure in a row. */
  retryMs?: number
}

export function useLiveStream<Event extends { id: string }>(
  open: (lastEventId: string | undefined, signal: AbortSignal) => AsyncIterable<Event>,
  apply: (event: Event) => void,
  fallback: Polling,
  { maxFailures = 3, retryMs = 1_000 }: LiveStreamOptions = {},
) {
  const state = ref<LiveState>('idle')
  let controller: AbortController | null = null
  let lastEventId: string | undefined
  let timer: ReturnType<typeof setTimeout> | null = null

  function refused(error: unknown): boolean {
    const status = (error as { status?: unknown } | null)?.status
    return typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429
  }

  async function follow(own: AbortController): Promise<void> {
    let failures = 0
    while (!own.signal.aborted) {
      try {
        for await (const event of open(lastEventId, own.signal)) {
          if (own.signal.aborted) return
          failures = 0
          if (event.id) lastEventId = event.id
          apply(event)
        }
        // The server ends a stream after a while: open it again from the last event.
      } catch (error) {
        if (own.signal.aborted) return
        failures += 1
        if (refused(error) || failures >= maxFailures) break
      }
      await new Promise<void>((resolve) => {
        timer = setTimeout(resolve, retryMs * 2 ** Math.max(0, failures - 1))
        own.signal.addEventListener('abort', () => resolve(), { once: true })
      })
    }
    if (controller === own && !own.signal.aborted) {
      state.value = 'polling'
      fallback.start()
    }
  }

  /** Follow from now (again: a new stream, e.g. for another tenant). */
  function start(): void {
    stop()
    lastEventId = undefined
    const own = new AbortController()
    controller = own
    state.value = 'live'
    void follow(own)
  }

  function stop(): void {
    controller?.abort()
    controller = null
    if (timer !== null) clearTimeout(timer)
    timer = null
    fallback.stop()
    state.value = 'idle'
  }

  onScopeDispose(stop)

  return { state, start, stop }
}
