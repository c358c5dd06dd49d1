/**
 * Debian's Chromium driven by playwright-core (no browser download): headless, no network
 * chatter of its own, a fresh profile per browser.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { chromium, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core'

import { ARTIFACTS, BASE_URL, PASSWORD, SCREENSHOTS } from './env'

export const CHROMIUM = '/usr/bin/chromium'
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export interface Browser {
  context: BrowserContext
  page: Page
  /** Problems the page reported: uncaught errors and console errors. */
  errors: string[]
  /** The API's answers of 400 and above, oldest first: `503 GET /api/v1/services?q=time`. */
  refusals: string[]
  close: () => Promise<void>
}

/** The browsers open now, so that a failed test can say what each one showed. */
const opened = new Set<Browser>()

/** A browser with its own fresh profile (Playwright passes it as --user-data-dir). */
export async function openBrowser(options: BrowserContextOptions = {}): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'mcps-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ARGS,
    baseURL: BASE_URL,
    viewport: { width: 1280, height: 800 },
    locale: 'zh-CN',
    permissions: ['clipboard-read', 'clipboard-write'],
    ...options,
  })
  context.setDefaultTimeout(15_000)
  const page = context.pages()[0] ?? (await context.newPage())
  const errors: string[] = []
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`))
  page.on('console', (message) => {
    // A 4xx the app handles (e.g. a wrong password) also logs a failed resource: not a bug.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      errors.push(`console: ${message.text()}`)
    }
  })
  const refusals: string[] = []
  page.on('response', (response) => {
    if (response.status() < 400) return
    const url = new URL(response.url())
    refusals.push(`${response.status()} ${response.request().method()} ${url.pathname}${url.search}`)
  })
  const browser: Browser = {
    context,
    page,
    errors,
    refusals,
    close: async () => {
      opened.delete(browser)
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
  opened.add(browser)
  return browser
}

/**
 * After a failed test (tests/e2e/support/failures.ts): each open page's address, the text on
 * its screen, the API's refusals and the page's errors, appended to artifacts/web-failures.txt
 * (test_web_app.py puts it in its report), and a screenshot `failed-<test>.png`.
 */
export async function reportFailure(test: string): Promise<void> {
  const lines = [`## ${test}`]
  let index = 0
  for (const { page, errors, refusals } of opened) {
    index += 1
    const text = await page
      .evaluate(() => document.body.innerText)
      .catch((error: unknown) => `(no text: ${String(error)})`)
    lines.push(
      `page ${index}: ${page.url()}`,
      `on screen: ${text.replace(/\s+/g, ' ').slice(0, 1500)}`,
      `API refusals: ${refusals.slice(-10).join('; ') || 'none'}`,
      `page errors: ${errors.slice(-5).join('; ') || 'none'}`,
    )
    const name = `failed-${test}-${index}`.replace(/[^\w-]+/g, '-').slice(0, 120)
    await screenshot(page, name).catch(() => undefined)
  }
  appendFileSync(join(ARTIFACTS, 'web-failures.txt'), lines.join('\n') + '\n\n')
}

/** Sign in on the sign-in page with the tests' password; waits until `landing` (a dashboard). */
export async function signIn(page: Page, email: string, landing = '**/dashboard'): Promise<void> {
  await page.goto('/signin')
  await page.fill('input[name=email]', email)
  await page.fill('input[name=password]', PASSWORD)
  await page.click('[data-testid=submit]')
  await page.waitForURL(landing)
}

/** Save a screenshot of the whole page under artifacts/screenshots/, with transitions under
 * way shown finished (a drawer taken mid-slide showed half its width). */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true, animations: 'disabled' })
}

export interface PageTiming {
  name: string
  ms: number
  initial: boolean
}

/** The `page:*` measures the app recorded: navigation → data on screen. */
export async function pageTimings(page: Page): Promise<PageTiming[]> {
  return page.evaluate(() =>
    performance
      .getEntriesByType('measure')
      .filter((entry) => entry.name.startsWith('page:'))
      .map((entry) => ({
        name: entry.name.slice(5),
        ms: Math.round(entry.duration * 10) / 10,
        initial: Boolean((entry as PerformanceMeasure).detail?.initial),
      })),
  )
}

/** Keep timings for the report (tests/e2e/test_web_app.py prints a summary). */
export function saveTimings(spec: string, timings: PageTiming[]): void {
  writeFileSync(join(ARTIFACTS, `web-timings-${spec}.json`), JSON.stringify(timings, null, 2) + '\n')
}
