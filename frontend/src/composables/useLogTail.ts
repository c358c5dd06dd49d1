/**
 * A live tail over a stream of lines (a deployment's logs, read as server-sent events through
 * the SDK): the last `max` lines, appended in small batches, and where the stream stands.
 * `start` (again) opens a new stream; leaving the view, or `stop`, cancels it.
 */
import { onScopeDispose, ref, shallowRef } from 'vue'

export type TailState = 'idle' | 'live' | 'ended' | 'failed'

export interface LogTailOptions {
  /** Lines kept; older ones are dropped. */
  max?: number
  /** How long lines gather before they show, in ms (one render per batch, not per line). */
  batchMs?: number
}

export function useLogTail<Line>(
  open: (signal: AbortSignal) => AsyncIterable<Line>,
  { max = 1000, batchMs = 100 }: LogTailOptions = {},
) {
  const lines = shallowRef<Line[]>([])
  const state = ref<TailState>('idle')
  const error = shallowRef<unknown>(null)
  /** Lines dropped from the top since the stream opened. */
  const dropped = ref(0)
  let controller: AbortController | null = null
  let pending: Line[] = []
  let timer: ReturnType<typeof setTimeout> | null = null

  function flush(): void {
    timer = null
    if (pending.length === 0) return
    const next = [...lines.value, ...pending]
    pending = []
    const over = next.length - max
    if (over > 0) dropped.value += over
    lines.value = over > 0 ? next.slice(over) : next
  }

  function stop(): void {
    controller?.abort()
    controller = null
    if (timer !== null) clearTimeout(timer)
    flush()
    if (state.value === 'live') state.value = 'ended'
  }

  async function start(): Promise<void> {
    stop()
    const own = new AbortController()
    controller = own
    lines.value = []
    pending = []
    dropped.value = 0
    error.value = null
    state.value = 'live'
    try {
      const stream = open(own.signal)
      for await (const line of stream) {
        if (own.signal.aborted) break
        pending.push(line)
        timer ??= setTimeout(flush, batchMs)
      }
      if (controller === own) state.value = 'ended'
    } catch (caught) {
      if (controller === own && !own.signal.aborted) {
        error.value = caught
        state.value = 'failed'
      }
    } finally {
      if (controller === own) {
        if (timer !== null) clearTimeout(timer)
        flush()
        controller = null
      }
    }
  }

  onScopeDispose(() => {
    controller?.abort()
    if (timer !== null) clearTimeout(timer)
  })

  return { lines, state, error, dropped, start, stop }
}
