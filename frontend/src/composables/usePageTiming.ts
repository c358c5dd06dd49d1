/**
 * How long from a navigation until its page's data is on screen. Each view's first load
 * ends a `page:<route name>` performance measure; the browser tests read them for the
 * 300 ms budget of issue 6, and anyone can see them in the devtools' Performance panel.
 * `detail.initial` marks the first page of a visit (it also waited for the app to boot).
 */

let started = 0
let routeName = ''
let initial = true
let measured = true
let navigation = 0

/** Called by the router before each navigation. */
export function markNavigationStart(name: string, first: boolean): void {
  started = performance.now()
  routeName = name
  initial = first
  measured = false
  navigation += 1
}

/** The navigation under way; a view notes it when created, to mark only its own data. */
export function currentNavigation(): number {
  return navigation
}

/**
 * Called once a page's first data is rendered: measures after the next paint. Data of a
 * page the reader already left (`of` is an older navigation) does not count.
 */
export function markDataVisible(of: number = navigation): void {
  if (measured || of !== navigation) return
  measured = true
  const name = routeName
  const start = started
  const detail = { initial }
  requestAnimationFrame(() => {
    performance.measure(`page:${name}`, { start, end: performance.now(), detail })
  })
}
