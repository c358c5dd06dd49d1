/**
 * Help in the browser: the header's button and the `?` key open a drawer with the help of
 * the page in view (its own topic on the dashboard, tokens, settings and usage pages), in
 * Chinese and then in English; a `?` typed into a field stays text; the drawer links to the
 * API reference (a new tab) and back to the dashboard's getting-started steps. It stays off
 * the marketplace's list: a search answer it left in the catalogue's cache could lag the
 * service that the marketplace spec publishes just after it.
 */
import { McpsClient } from '@mcps/sdk'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { openBrowser, screenshot, signIn, type Browser } from '../support/browser'
import { BASE_URL, PASSWORD } from '../support/env'

const run = Date.now().toString(36)
const person = { username: `helpme-${run}`, email: `helpme-${run}@example.com` }

let browser: Browser
let page: Page

const drawer = () => page.locator('[data-testid=help-drawer]')

/** The help drawer is open on `topic`, its texts in: returns the topic's title. */
async function helpOn(topic: string): Promise<string> {
  await page.locator(`[data-testid=help-drawer][data-topic=${topic}] [data-testid=help-topic]`).waitFor()
  return (await page.locator('[data-testid=help-topic]').textContent()) ?? ''
}

async function closeHelp(): Promise<void> {
  await page.keyboard.press('Escape')
  await drawer().waitFor({ state: 'hidden' })
}

beforeAll(async () => {
  const api = new McpsClient({ baseURL: BASE_URL })
  await api.auth.register({ email: person.email, username: person.username, password: PASSWORD })
  browser = await openBrowser()
  page = browser.page
  await signIn(page, person.email)
})

afterAll(async () => browser?.close())

describe('help', () => {
  it('opens on each page with that page’s own topic, from the button or the ? key', async () => {
    const button = page.getByRole('button', { name: '帮助' })
    expect(await button.getAttribute('data-testid')).toBe('help-button')
    await button.click()
    expect(await helpOn('dashboard')).toBe('仪表板')
    const dialog = page.getByRole('dialog', { name: '帮助' })
    expect(await dialog.textContent()).toContain('完成快速上手步骤')
    expect(await button.getAttribute('aria-expanded')).toBe('true')
    await closeHelp()

    await page.click('[data-testid="nav-tokens.list"]')
    await page.waitForURL('**/tokens')
    await page.keyboard.press('?')
    expect(await helpOn('tokens')).toBe('API 令牌')
    const text = (await drawer().textContent()) ?? ''
    for (const words of ['权限范围', 'mcp:execute', 'deploy:write', '撤销令牌']) expect(text).toContain(words)
    await screenshot(page, 'help-drawer')

    // The basics are a click away, and the page's own help a click back.
    await page.click('[data-testid=help-general]')
    expect(await helpOn('general')).toBe('MCPS.ONE 使用入门')
    await page.click('[data-testid=help-general]')
    expect(await helpOn('tokens')).toBe('API 令牌')
    await page.keyboard.press('?') // closes it again
    await drawer().waitFor({ state: 'hidden' })
  })

  it('leaves a ? typed into a field alone', async () => {
    await page.click('[data-testid="nav-settings.edit"]')
    await page.locator('[data-testid=settings-workspace][data-loaded=true]').waitFor()
    const field = page.locator('input[name=display_name]')
    await field.fill('')
    await field.pressSequentially('Ada?')
    expect(await field.inputValue()).toBe('Ada?')
    expect(await drawer().count()).toBe(0)
    await field.blur()
    await page.keyboard.press('?')
    expect(await helpOn('settings')).toBe('设置')
    await closeHelp()
  })

  it('speaks English once English is chosen', async () => {
    await page.click('[data-testid=locale-switch]')
    await page.waitForFunction(() => document.documentElement.lang === 'en')
    await page.click('[data-testid="nav-usage"]')
    await page.waitForURL('**/usage')
    await page.getByRole('button', { name: 'Help' }).click()
    expect(await helpOn('usage')).toBe('Usage and analytics')
    const text = (await drawer().textContent()) ?? ''
    for (const words of ['What you can do here', 'p50 (median)', 'p95', 'p99', 'API reference']) expect(text).toContain(words)
    await closeHelp()
  })

  it('links to the API reference in a new tab and back to the getting-started steps', async () => {
    await page.keyboard.press('?')
    await helpOn('usage')
    const docs = page.locator('[data-testid=help-docs]')
    expect(await docs.getAttribute('href')).toBe('/docs')
    const [reference] = await Promise.all([browser.context.waitForEvent('page'), docs.click()])
    await reference.waitForLoadState('domcontentloaded')
    expect(new URL(reference.url()).pathname).toBe('/docs')
    expect((await reference.content()).toLowerCase()).toContain('swagger')
    await reference.close()

    await page.click('[data-testid=help-replay]')
    await page.waitForURL('**/dashboard')
    await page.locator('[data-testid=getting-started]').waitFor()
    await drawer().waitFor({ state: 'hidden' })
    expect(browser.errors).toEqual([])
  })
})
