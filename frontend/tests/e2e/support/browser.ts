/**
 * Debian's Chromium driven by playwright-core (no browser download): headless, no network
 * chatter of its own, a fresh profile per browser.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { chromium, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core'

import { ARTIFACTS, BASE_URL, SCREENSHOTS } from './env'

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
  close: () => Promise<void>
}

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
  return {
    context,
    page,
    errors,
    close: async () => {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

/** Save a screenshot of the whole page under artifacts/screenshots/. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
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
