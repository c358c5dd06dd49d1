/**
 * Keep a view's data fresh by asking again: `tick` runs, then again after `every()` ms
 * (which can depend on what the last answer said: sooner while something is changing;
 * `null` stops). Paused while the tab is hidden, resumed (at once) when it shows again;
 * `poke` asks now, e.g. right after a command. One tick at a time.
 */
import { onScopeDispose } from 'vue'

export interface Polling {
  /** Start ticking (the first tick runs at once). */
  start: () => void
  /** Stop until `start` is called again. */
  stop: () => void
  /** Tick now (after the one under way, if any) and reschedule from there. */
  poke: () => Promise<void>
}

export function usePolling(tick: () => Promise<unknown>, every: () => number | null): Polling {
  let running = false
  let timer: ReturnType<typeof setTimeout> | null = null
  let inflight: Promise<void> | null = null
  let again = false

  function hidden(): boolean {
    return typeof document !== 'undefined' && document.visibilityState === 'hidden'
  }

  function schedule(): void {
    if (timer !== null) clearTimeout(timer)
    timer = null
    if (!running || hidden()) return
    const delay = every()
    if (delay === null) return
    timer = setTimeout(() => void run(), delay)
  }

  function run(): Promise<void> {
    if (inflight) {
      again = true
      return inflight
    }
    if (timer !== null) clearTimeout(timer)
    timer = null
    inflight = (async () => {
      try {
        await tick()
      } catch {
        // the view shows its own error; keep polling, the next answer may be fine
      } finally {
        inflight = null
      }
      if (again) {
        again = false
        await run()
      } else {
        schedule()
      }
    })()
    return inflight
  }

  function onVisibility(): void {
    if (!running) return
    if (hidden()) {
      if (timer !== null) clearTimeout(timer)
      timer = null
    } else {
      void run()
    }
  }

  function start(): void {
    if (running) return
    running = true
    document.addEventListener('visibilitychange', onVisibility)
    void run()
  }

  function stop(): void {
    running = false
    if (timer !== null) clearTimeout(timer)
    timer = null
    document.removeEventListener('visibilitychange', onVisibility)
  }

  onScopeDispose(stop)

  return { start, stop, poke: run }
}
