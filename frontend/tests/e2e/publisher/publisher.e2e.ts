/**
 * The publisher console in the browser, on the real API: a team's owner drafts a service,
 * releases a version (runtime, changelog, config schema and a tool), publishes it, finds it
 * in the marketplace, edits the listing, reads its analytics, deprecates and unpublishes it.
 * A member of the team sees the console but not its buttons.
 */
import { McpsClient } from '@mcps/sdk'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { openBrowser, pageTimings, saveTimings, screenshot, signIn, type Browser } from '../support/browser'
import { BASE_URL, PASSWORD } from '../support/env'
import { codeIn, lastMailTo } from '../support/mail'

const run = Date.now().toString(36)
const owner = { username: `ada-pub-${run}`, email: `ada-pub-${run}@example.com` }
const member = { username: `bob-pub-${run}`, email: `bob-pub-${run}@example.com` }
const team = { slug: `lovelace-${run}`, name: 'Lovelace Labs' }
const service = `weather-${run}`

let browser: Browser
let page: Page

async function statusIs(status: string): Promise<void> {
  await page.locator(`[data-testid=service-status][data-status=${status}]`).waitFor()
}

beforeAll(async () => {
  const api = new McpsClient({ baseURL: BASE_URL })
  await api.auth.register({ email: owner.email, username: owner.username, password: PASSWORD })
  await api.auth.login({ email: owner.email, password: PASSWORD })
  await api.tenants.create(team)
  const other = new McpsClient({ baseURL: BASE_URL })
  await other.auth.register({ email: member.email, username: member.username, password: PASSWORD })
  await api.invitations.create(team.slug, { email: member.email, role: 'member' })
  await other.auth.login({ email: member.email, password: PASSWORD })
  await other.invitations.accept(codeIn(await lastMailTo(member.email)))
})

describe('the publisher console', () => {
  beforeAll(async () => {
    browser = await openBrowser()
    page = browser.page
    await signIn(page, owner.email)
    await page.goto(`/t/${team.slug}/dashboard`)
  })

  afterAll(async () => {
    if (page) saveTimings('publisher', await pageTimings(page).catch(() => []))
    await browser?.close()
  })

  it('starts empty, saying what to do', async () => {
    await page.click('[data-testid="nav-publisher.list"]')
    await page.waitForURL(`**/t/${team.slug}/publisher`)
    await page.locator('[data-testid=empty-state]').waitFor()
    await screenshot(page, 'publisher-empty')
  })

  it('drafts a service', async () => {
    await page.click('[data-testid=service-create]')
    await page.waitForURL(`**/t/${team.slug}/publisher/new`)
    await page.fill('input[name=name]', 'Not A Slug')
    await page.fill('input[name=display_name]', 'Weather 天气')
    await page.click('[data-testid=service-submit]')
    await page.locator('.n-form-item-feedback__line', { hasText: '小写字母' }).first().waitFor()
    await page.fill('input[name=name]', service)
    await page.fill('textarea[name=description]', '# Weather\n\nForecasts for **agents**. 天气预报。')
    await page.click('[data-testid=description-preview]')
    await page.locator('[data-testid=service-form] [data-testid=markdown] h1').waitFor()
    await page.click('[data-testid=service-category]')
    await page.click('.n-dropdown-option [data-value=data]')
    await page.locator('[data-testid=service-tags] .n-button, [data-testid=service-tags] button').first().click()
    await page.keyboard.type('forecast')
    await page.keyboard.press('Enter')
    await screenshot(page, 'publisher-create')
    await page.click('[data-testid=service-submit]')

    await page.waitForURL(`**/t/${team.slug}/publisher/${service}`)
    await statusIs('draft')
    expect(await page.locator('[data-testid=next-step]').textContent()).toContain('发布第一个版本')
    expect(await page.locator('[data-testid=publish]').isDisabled()).toBe(true) // nothing released yet
  })

  it('releases a version with its runtime, changelog, config schema and a tool', async () => {
    await page.click('[data-testid=release]')
    const dialog = page.locator('[data-testid=release-dialog]')
    await dialog.waitFor()
    expect(await dialog.locator('input[name=version]').inputValue()).toBe('1.0.0')
    await dialog.locator('[data-kind=remote]').click()
    await dialog.locator('input[name=url]').fill('https://weather.example.com/mcp')
    await dialog.locator('textarea[name=changelog]').fill('- first forecast')
    await dialog.locator('textarea[name=config_schema]').fill(
      JSON.stringify({ type: 'object', properties: { api_key: { type: 'string', writeOnly: true } } }),
    )
    await page.click('[data-testid=tool-add]')
    await dialog.locator('input[name=tool_name_0]').fill('forecast')
    await dialog.locator('input[name=tool_description_0]').fill('The forecast for a city')
    await dialog.locator('textarea[name=tool_schema_0]').fill('{"type": "object", "properties": {"city": {"type": "string"}}}')

    // A version that is not semver is refused before it is sent.
    await dialog.locator('input[name=version]').fill('v1')
    await page.click('[data-testid=release-submit]')
    await dialog.locator('.n-form-item-feedback__line', { hasText: '语义化版本' }).waitFor()
    await dialog.locator('input[name=version]').fill('1.0.0')
    await screenshot(page, 'publisher-release')
    await page.click('[data-testid=release-submit]')

    await page.locator('[data-testid=versions] [data-version="1.0.0"]').waitFor()
    expect(await page.locator('[data-testid=next-step]').textContent()).toContain('上架')
  })

  it('publishes it, and the marketplace lists it with its tool', async () => {
    await page.click('[data-testid=publish]')
    await statusIs('published')
    await screenshot(page, 'publisher-service')
    await page.click('[data-testid=view-in-marketplace]')
    await page.waitForURL(`**/marketplace/${service}`)
    await page.click('.n-tabs-tab[data-name=tools]')
    await page.locator('[data-tool=forecast] [data-property=city]').waitFor()

    await page.goto('/marketplace')
    await page.fill('input[name=q]', '天气')
    await page.locator(`[data-testid=results] [data-service="${service}"]`).waitFor()
    // The menu still shows the team the owner was working in.
    expect(await page.locator('[data-testid=tenant-switcher]').textContent()).toContain(team.name)
  })

  it('edits the listing', async () => {
    await page.goto(`/t/${team.slug}/publisher/${service}`)
    await page.click('[data-testid=edit-listing]')
    await page.waitForURL(`**/publisher/${service}/edit`)
    const name = page.locator('input[name=display_name]')
    await page.waitForFunction(() => (document.querySelector('input[name=display_name]') as HTMLInputElement | null)?.value === 'Weather 天气')
    await name.fill('Weather Pro 天气')
    await page.click('[data-testid=service-submit]')
    await page.waitForURL(`**/t/${team.slug}/publisher/${service}`)
    await page.locator('h1', { hasText: 'Weather Pro' }).waitFor()
  })

  it("shows the service's analytics", async () => {
    await page.click('.n-tabs-tab[data-name=analytics]')
    const analytics = page.locator('[data-testid=publisher-analytics]')
    await analytics.locator('[data-testid=chart] canvas').waitFor()
    expect(await analytics.locator('[data-testid=analytics-calls]').textContent()).toContain('0')
    await screenshot(page, 'publisher-analytics')
  })

  it('lists it in the console, then deprecates and unpublishes it', async () => {
    await page.click('[data-testid="nav-publisher.list"]')
    await page.locator(`[data-testid=publisher-services] [data-service="${service}"]`).waitFor()
    await screenshot(page, 'publisher-list')
    await page.click(`[data-testid=publisher-services] [data-service="${service}"] a`)
    await statusIs('published')

    await page.click('[data-testid=deprecate]')
    await page.locator('[data-testid=deprecate-dialog] textarea[name=reason]').fill('Use the new API')
    await page.click('[data-testid=deprecate-submit]')
    await statusIs('deprecated')

    await page.click('[data-testid=unpublish]')
    await page.click('[data-testid=unpublish-submit]')
    await statusIs('draft')
    const anonymous = new McpsClient({ baseURL: BASE_URL })
    await expect(anonymous.services.retrieve(service)).rejects.toMatchObject({ status: 404 })
    expect(browser.errors).toEqual([])
  })
})

describe('the publisher console for a member', () => {
  let other: Browser

  beforeAll(async () => {
    other = await openBrowser()
    await signIn(other.page, member.email)
  })

  afterAll(async () => other?.close())

  it('shows the drafts but no buttons to change them', async () => {
    const { page: mine } = other
    await mine.goto(`/t/${team.slug}/publisher`)
    await mine.locator(`[data-testid=publisher-services] [data-service="${service}"]`).waitFor()
    expect(await mine.locator('[data-testid=service-create]').count()).toBe(0)
    await mine.goto(`/t/${team.slug}/publisher/${service}`)
    await mine.locator('[data-testid=service-status]').waitFor()
    expect(await mine.locator('[data-testid=release], [data-testid=publish], [data-testid=edit-listing]').count()).toBe(0)
    await mine.goto(`/t/${team.slug}/publisher/new`)
    await mine.locator('[data-testid=forbidden]').waitFor()
    expect(other.errors).toEqual([])
  })
})
