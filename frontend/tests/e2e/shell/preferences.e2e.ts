/**
 * The shell around every page: zh-CN by default with a remembered switch to English, a
 * remembered dark theme, and a phone-sized (390 px) layout with a drawer for the menu.
 */
import { McpsClient } from '@mcps/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { openBrowser, screenshot, signIn, type Browser } from '../support/browser'
import { BASE_URL, PASSWORD } from '../support/env'

const person = { username: 'linus', email: 'linus@example.com' }
const team = { slug: 'kernel-crew', name: 'Kernel Crew' }

/** The page is no wider than the viewport: nothing to scroll sideways. */
async function fitsWidth(browser: Browser): Promise<boolean> {
  return browser.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1)
}

beforeAll(async () => {
  const api = new McpsClient({ baseURL: BASE_URL })
  await api.auth.register({ email: person.email, username: person.username, password: PASSWORD })
  await api.auth.login({ email: person.email, password: PASSWORD })
  await api.tenants.create(team)
  await api.tokens.create(team.slug, { name: 'deploy-bot', scopes: ['deploy:write', 'mcp:read'] })
})

describe('language', () => {
  let browser: Browser
  beforeAll(async () => (browser = await openBrowser({ locale: 'en-US' })))
  afterAll(async () => browser?.close())

  it('is Chinese by default, switches to English, and remembers it', async () => {
    const { page } = browser
    await page.goto('/signin')
    expect(await page.locator('h1').textContent()).toBe('登录')
    expect(await page.getAttribute('html', 'lang')).toBe('zh-CN')
    await page.click('[data-testid=locale-switch]')
    await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'Sign in')
    expect(await page.getAttribute('html', 'lang')).toBe('en')
    await screenshot(page, 'signin-en')

    await page.reload()
    await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'Sign in')
    await signIn(browser.page, person.email)
    expect(await page.locator('[data-testid=getting-started]').textContent()).toContain('Getting started')
    await screenshot(page, 'dashboard-en')

    await page.click('[data-testid=locale-switch]')
    await page.waitForFunction(() =>
      document.querySelector('[data-testid=getting-started]')?.textContent?.includes('快速上手'),
    )
    expect(browser.errors).toEqual([])
  })
})

describe('theme', () => {
  let browser: Browser
  beforeAll(async () => (browser = await openBrowser({ colorScheme: 'light' })))
  afterAll(async () => browser?.close())

  it('switches to dark, and stays dark after a reload', async () => {
    const { page } = browser
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor)
    await signIn(browser.page, person.email)
    const light = await background()
    await page.click('[data-testid=theme-toggle]')
    await page.waitForFunction(() => document.documentElement.dataset['theme'] === 'dark')
    // The background fades over: wait until it has settled dark.
    await page.waitForFunction(() => {
      const [r = 255, g = 255, b = 255] = (getComputedStyle(document.body).backgroundColor.match(/\d+/g) ?? []).map(Number)
      return r + g + b < 120
    })
    expect(luminance(await background())).toBeLessThan(luminance(light))
    await page.locator('[data-testid=chart] canvas').waitFor()
    await screenshot(page, 'dashboard-dark')

    await page.reload()
    await page.waitForFunction(() => document.documentElement.dataset['theme'] === 'dark')
    expect(luminance(await background())).toBeLessThan(0.15)
    await page.goto(`/t/${team.slug}/tokens`)
    await page.locator('[data-token=deploy-bot]').waitFor()
    await screenshot(page, 'tokens-dark')
    expect(browser.errors).toEqual([])
  })
})

describe('a 390 px wide phone', () => {
  let browser: Browser
  beforeAll(
    async () =>
      (browser = await openBrowser({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })),
  )
  afterAll(async () => browser?.close())

  it('fits every page to the screen and moves the menu into a drawer', async () => {
    const { page } = browser
    await page.goto('/signin')
    expect(await fitsWidth(browser)).toBe(true)
    await screenshot(page, 'mobile-signin')
    await signIn(browser.page, person.email)
    expect(await page.locator('[data-testid=tenant-switcher]').count()).toBe(0) // it lives in the drawer
    expect(await fitsWidth(browser)).toBe(true)
    await screenshot(page, 'mobile-dashboard')

    await page.click('[data-testid=menu-toggle]')
    await page.click('[data-testid=tenant-switcher]')
    await page.click(`[data-testid=tenant-option-${team.slug}]`)
    await page.waitForURL(`**/t/${team.slug}/dashboard`)

    for (const [name, ready] of [
      ['tokens.list', '[data-token=deploy-bot]'],
      ['members.list', '[data-testid=member-table]'],
      ['audit.list', '[data-testid=audit-entry]'],
      ['settings.edit', '[data-testid=settings-workspace][data-loaded=true]'],
    ] as const) {
      await page.click('[data-testid=menu-toggle]')
      await page.click(`[data-testid="nav-${name}"]`)
      await page.locator(ready).first().waitFor()
      await page.locator('.n-drawer').waitFor({ state: 'detached' })
      expect(await fitsWidth(browser), `${name} is wider than the screen`).toBe(true)
      await screenshot(page, `mobile-${name.split('.')[0]}`)
    }
    expect(browser.errors).toEqual([])
  })
})

/** Relative luminance of a CSS `rgb(r, g, b)` colour, 0 (black) to 1 (white). */
function luminance(color: string): number {
  const [r = 0, g = 0, b = 0] = (color.match(/\d+(\.\d+)?/g) ?? []).map(Number)
  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255
}
