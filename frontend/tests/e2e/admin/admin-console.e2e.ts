/**
 * The admin console in the browser, on the real API: a platform operator lists every tenant,
 * finds one and suspends it with a reason, features a service, and removes a spam review;
 * someone who is not an operator gets the forbidden page and sees only the health tab.
 */
import { McpsClient } from '@mcps/sdk'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { openBrowser, pageTimings, saveTimings, screenshot, signIn, type Browser } from '../support/browser'
import { BASE_URL, PASSWORD } from '../support/env'

const run = Date.now().toString(36)
/** The test server lists this address as a platform operator (tests/support.py). */
const operator = { username: `ops-${run}`, email: 'ops@mcps.one' }
const publisher = { username: `pub-${run}`, email: `pub-${run}@example.com` }
const spammer = { username: `spam-${run}`, email: `spam-${run}@example.com` }
const fan = { username: `fan-${run}`, email: `fan-${run}@example.com` }
const shady = { slug: `shady-${run}`, name: 'Shady Followers Inc' }
const service = `clock-${run}`

let browser: Browser
let page: Page
let ops: McpsClient

async function person(who: { username: string; email: string }): Promise<McpsClient> {
  const client = new McpsClient({ baseURL: BASE_URL })
  await client.auth.register({ email: who.email, username: who.username, password: PASSWORD })
  await client.auth.login({ email: who.email, password: PASSWORD })
  return client
}

async function tab(name: string, ready: string): Promise<void> {
  await page.click(`[data-testid="admin-tab-admin.${name}"]`)
  await page.waitForURL(`**/admin/${name}`)
  await page.locator(ready).first().waitFor()
}

beforeAll(async () => {
  ops = await person(operator)
  const pub = await person(publisher)
  await pub.services.create({ name: service, display_name: 'Clock 时钟', description: 'What time is it?' })
  await pub.services.release(service, {
    version: '1.0.0',
    runtime: { kind: 'remote', url: 'https://mcp.example.com/mcp' },
  })
  await pub.services.publish(service)
  const spam = await person(spammer)
  await spam.tenants.create(shady)
  await spam.reviews.create(service, { rating: 1, comment: 'Buy followers cheap at shady.example' })
  const happy = await person(fan)
  await happy.reviews.create(service, { rating: 5, comment: '准时，好用。' })
})

describe('the admin console', () => {
  beforeAll(async () => {
    browser = await openBrowser()
    page = browser.page
    await signIn(page, operator.email)
  })

  afterAll(async () => {
    if (page) saveTimings('admin', await pageTimings(page).catch(() => []))
    await browser?.close()
  })

  it('lists every tenant, and finds one by name', async () => {
    await page.goto('/admin')
    await page.locator('[data-testid=health-status]').waitFor()
    await tab('tenants', '[data-testid=admin-tenants]')
    for (const slug of [operator.username, publisher.username, spammer.username, fan.username, shady.slug]) {
      await page.locator(`[data-tenant="${slug}"]`).waitFor()
    }
    await screenshot(page, 'admin-tenants')
    await page.fill('input[name=tenant-search]', 'shady followers')
    await page.waitForFunction(() => document.querySelectorAll('[data-tenant]').length === 1)
    expect(await page.locator(`[data-tenant="${shady.slug}"] td`).nth(3).textContent()).toBe('1')
  })

  it('suspends a tenant with a reason, after asking', async () => {
    const row = page.locator(`[data-tenant="${shady.slug}"]`)
    await row.locator('[data-testid=tenant-suspend]').click()
    const dialog = page.locator('[data-testid=reason-dialog]')
    await dialog.waitFor()
    expect(await dialog.locator('[data-testid=reason-confirm]').isDisabled()).toBe(true)
    await dialog.locator('textarea').fill('Sells fake followers')
    await screenshot(page, 'admin-tenant-suspend')
    await dialog.locator('[data-testid=reason-confirm]').click()
    await row.locator('[data-testid=tenant-status]', { hasText: '已停用' }).waitFor()
    await row.locator('[data-testid=tenant-reinstate]').waitFor()
    const suspended = await ops.admin.tenants.list({ status: 'suspended' })
    expect(suspended.data.map((t) => t.slug)).toEqual([shady.slug])
  })

  it('features a service on the front page', async () => {
    await tab('featured', `[data-service="${service}"]`)
    const toggle = page.locator(`[data-service="${service}"] [data-testid=feature-toggle]`)
    await toggle.click()
    await page.locator(`[data-service="${service}"] .n-switch--active`).waitFor()
    await page.locator('[data-testid=featured-filter] .n-radio-button', { hasText: '仅精选' }).click()
    await page.waitForFunction(
      (name) => [...document.querySelectorAll('[data-service]')].map((e) => e.getAttribute('data-service')).join() === name,
      service,
    )
    await screenshot(page, 'admin-featured')
    const front = await ops.services.list({ featured: true })
    expect(front.data.map((s) => s.name)).toEqual([service])
  })

  it('removes a spam review with a reason, and it leaves the list', async () => {
    await tab('moderation', '[data-testid=admin-reviews]')
    const spam = page.locator(`[data-review="${service}/${spammer.username}"]`)
    await spam.waitFor()
    await page.locator(`[data-review="${service}/${fan.username}"]`).waitFor()
    await screenshot(page, 'admin-moderation')
    await spam.locator('[data-testid=review-remove]').click()
    const dialog = page.locator('[data-testid=reason-dialog]')
    await dialog.locator('textarea').fill('Spam: advertising')
    await dialog.locator('[data-testid=reason-confirm]').click()
    await spam.waitFor({ state: 'detached' })
    await page.locator(`[data-review="${service}/${fan.username}"]`).waitFor()
    const left = await ops.admin.reviews.list({ service })
    expect(left.data.map((r) => r.username)).toEqual([fan.username])
    const shown = await ops.reviews.list(service)
    expect(shown.data.map((r) => r.username)).toEqual([fan.username])
    expect(browser.errors).toEqual([])
  })
})

describe('the admin console for someone who is not an operator', () => {
  it('shows only the health tab, and the operator pages are forbidden', async () => {
    const other = await openBrowser()
    try {
      await signIn(other.page, fan.email)
      await other.page.goto('/admin')
      await other.page.locator('[data-testid=health-status]').waitFor()
      expect(await other.page.locator('[data-testid="admin-tab-admin.tenants"]').count()).toBe(0)
      await other.page.goto('/admin/tenants')
      await other.page.waitForURL('**/forbidden**')
      await screenshot(other.page, 'admin-forbidden')
    } finally {
      await other.close()
    }
  })
})
