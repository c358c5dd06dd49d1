/**
 * The first slice of issue 6's browser flow, on the real API and PostgreSQL: sign up, verify
 * the email from the mail the API wrote, sign in, create a team, invite a member who accepts,
 * create a token (shown once, copied), and find every step in the audit log.
 */
import { McpsClient } from '@mcps/sdk'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { openBrowser, pageTimings, saveTimings, screenshot, type Browser } from '../support/browser'
import { BASE_URL, PASSWORD } from '../support/env'
import { codeIn, lastMailTo } from '../support/mail'

const owner = { username: 'ada', email: 'ada@example.com' }
const invitee = { username: 'grace', email: 'grace@example.com' }
const team = { name: 'Acme Robotics', slug: 'acme-robotics' }

let browser: Browser
let page: Page

async function eventTypes(): Promise<string[]> {
  await page.locator('[data-testid=audit-entry]').first().waitFor()
  return page
    .locator('[data-testid=audit-entry]')
    .evaluateAll((entries) => entries.map((entry) => entry.getAttribute('data-event-type') ?? ''))
}

async function nav(name: string, ready: string): Promise<void> {
  await page.locator(`[data-testid="nav-${name}"]`).click()
  await page.locator(ready).first().waitFor()
}

async function signUp(target: Page, who: { username: string; email: string }): Promise<void> {
  await target.goto('/signup')
  await target.fill('input[name=email]', who.email)
  await target.fill('input[name=username]', who.username)
  await target.fill('input[name=password]', PASSWORD)
  await target.click('[data-testid=submit]')
  await target.locator('[data-testid=signup-done]').waitFor()
}

async function signIn(target: Page, email: string): Promise<void> {
  await target.fill('input[name=email]', email)
  await target.fill('input[name=password]', PASSWORD)
  await target.click('[data-testid=submit]')
}

describe('onboarding in the browser', () => {
  beforeAll(async () => {
    browser = await openBrowser()
    page = browser.page
  })

  afterAll(async () => {
    if (page) saveTimings('onboarding', await pageTimings(page).catch(() => []))
    await browser?.close()
  })

  it('signs up and says to check the inbox', async () => {
    await page.goto('/signup')
    await screenshot(page, 'signup')
    await signUp(page, owner)
    expect(await page.locator('[data-testid=signup-done]').textContent()).toContain(owner.email)
  })

  it('verifies the email from the link in the mail', async () => {
    const token = codeIn(await lastMailTo(owner.email))
    await page.goto(`/verify-email?token=${encodeURIComponent(token)}`)
    await page.locator('[data-testid=verify-done]').waitFor()
    await screenshot(page, 'verify-email')
    // A used link says so, in the reader's language, from the problem code.
    await page.goto(`/verify-email?token=${encodeURIComponent(token)}`)
    const problem = page.locator('[data-testid=problem]')
    await problem.waitFor()
    expect(await problem.getAttribute('data-code')).toBe('auth.link_invalid')
    expect(await problem.textContent()).toContain('该链接无效')
  })

  it('refuses a wrong password with a translated message, then signs in', async () => {
    await page.goto('/signin')
    await page.fill('input[name=email]', owner.email)
    await page.fill('input[name=password]', 'Wrong-passw0rd')
    await page.click('[data-testid=submit]')
    const problem = page.locator('[data-testid=problem]')
    await problem.waitFor()
    expect(await problem.getAttribute('data-code')).toBe('auth.invalid_credentials')
    await screenshot(page, 'signin-error')

    await signIn(page, owner.email)
    await page.waitForURL(`**/u/${owner.username}/dashboard`)
    await page.locator('[data-testid=getting-started]').waitFor()
  })

  it('greets a new person with what to do next and a workspace at a glance', async () => {
    const steps = await page
      .locator('[data-testid=getting-started] li')
      .evaluateAll((items) => items.map((item) => [item.getAttribute('data-step'), item.getAttribute('data-done')]))
    expect(steps).toEqual([
      ['verify', 'true'],
      ['team', 'false'],
      ['invite', 'false'],
      ['token', 'false'],
      ['deploy', 'false'],
    ])
    // Nothing deployed or called yet: the cards say so, with no made-up figures.
    await page.locator('[data-testid=glance-marketplace]').waitFor()
    expect(await page.locator('[data-testid=glance-calls-today]').textContent()).toContain('0')
    expect(await page.locator('[data-testid=glance-errors-today]').textContent()).toContain('0')
    expect(await page.locator('[data-testid=glance-spend-amount]').count()).toBe(0)
    await page.locator('[data-testid=chart] canvas').waitFor()
    await screenshot(page, 'dashboard-new-user')
  })

  it('creates a team and lands on its dashboard', async () => {
    await nav('teams.create', 'input[name=name]')
    await page.fill('input[name=name]', team.name)
    expect(await page.inputValue('input[name=slug]')).toBe(team.slug)
    await screenshot(page, 'team-create')
    await page.click('[data-testid=submit]')
    await page.waitForURL(`**/t/${team.slug}/dashboard`)
    expect(await page.locator('[data-testid=tenant-switcher]').textContent()).toContain(team.name)
    expect(await page.locator('[data-testid=role]').textContent()).toContain('所有者')
  })

  it('invites a member by email', async () => {
    await nav('members.list', '[data-testid=member-table]')
    await page.fill('[data-testid=invitations] input[name=email]', invitee.email)
    await page.click('[data-testid=invite-submit]')
    await page.locator(`[data-invitation="${invitee.email}"]`).waitFor()
    expect(await page.locator(`[data-invitation="${invitee.email}"] [data-testid=invitation-state]`).textContent()).toContain(
      '待接受',
    )
    await screenshot(page, 'members')
  })

  it('lets the invitee accept in their own browser', async () => {
    const link = codeIn(await lastMailTo(invitee.email))
    const other = await openBrowser()
    try {
      await signUp(other.page, invitee)
      await other.page.goto(`/invitations/accept?token=${encodeURIComponent(link)}`)
      // Not signed in yet: sign-in first, then back to the invitation.
      await other.page.waitForURL('**/signin?redirect=**')
      await signIn(other.page, invitee.email)
      await other.page.waitForURL('**/invitations/accept?token=**')
      await screenshot(other.page, 'invitation-accept')
      await other.page.click('[data-testid=accept-invitation]')
      await other.page.locator('[data-testid=invitation-accepted]').waitFor()
      await other.page.click('[data-testid=open-workspace]')
      await other.page.waitForURL(`**/t/${team.slug}/dashboard`)
      expect(await other.page.locator('[data-testid=role]').textContent()).toContain('成员')
      // A member sees no audit log in the menu, and the route refuses them.
      expect(await other.page.locator('[data-testid="nav-audit.list"]').count()).toBe(0)
      await other.page.goto(`/t/${team.slug}/audit`)
      await other.page.locator('[data-testid=forbidden]').waitFor()
      expect(other.errors).toEqual([])
    } finally {
      await other.close()
    }
    await page.reload()
    await page.locator(`[data-member="${invitee.username}"]`).waitFor()
    expect(await page.locator(`[data-invitation="${invitee.email}"] [data-testid=invitation-state]`).textContent()).toContain(
      '已接受',
    )
  })

  it('creates an API token, shows it once with a copy button, and lists it', async () => {
    await nav('tokens.list', '[data-testid=token-create]')
    await page.locator('[data-testid=empty-state]').waitFor()
    await screenshot(page, 'tokens-empty')
    await page.click('[data-testid=token-create]')
    const dialog = page.locator('[data-testid=token-create-dialog]')
    await dialog.locator('input[name=name]').fill('ci')
    await dialog.locator('[data-scope="mcp:read"]').click()
    await screenshot(page, 'token-create')
    await page.click('[data-testid=token-create-submit]')

    const secret = await page.locator('[data-testid=copy-field-value]').inputValue()
    expect(secret).toMatch(/^mcps_/)
    await screenshot(page, 'token-issued')
    await page.click('[data-testid=copy-button]')
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret)
    expect(await page.locator('[data-testid=copy-button]').textContent()).toContain('已复制')
    await page.click('[data-testid=token-issued-done]')

    const row = page.locator('[data-token=ci]')
    await row.waitFor()
    expect(await row.textContent()).toContain('mcp:read')
    expect(await page.content()).not.toContain(secret) // shown once, never again
    await screenshot(page, 'tokens')

    // The token works for a program, with the scopes it was given.
    const machine = new McpsClient({ baseURL: BASE_URL, apiKey: secret })
    expect((await machine.tenants.retrieve(team.slug)).name).toBe(team.name)
  })

  it('finds every step in the audit logs, filters them, and scrolls for more', async () => {
    await nav('audit.list', '[data-testid=audit-entry]')
    const types = await eventTypes()
    for (const type of [
      'tenancy.Tenant.Created',
      'tenancy.Tenant.InvitationIssued',
      'tenancy.Tenant.InvitationAccepted',
      'tenancy.ApiToken.Issued',
    ]) {
      expect(types).toContain(type)
    }
    await screenshot(page, 'audit')

    await page.click('[data-testid=filter-type]')
    await page.locator('.n-base-select-option', { hasText: 'API 令牌' }).click()
    await page.waitForFunction(() =>
      [...document.querySelectorAll('[data-testid=audit-entry]')].every((entry) =>
        entry.getAttribute('data-event-type')?.startsWith('tenancy.ApiToken'),
      ),
    )

    // The personal workspace logged the account's own steps.
    await page.goto(`/u/${owner.username}/audit`)
    const personal = await eventTypes()
    for (const type of ['tenancy.User.Registered', 'tenancy.User.EmailVerified', 'tenancy.Session.Started']) {
      expect(personal).toContain(type)
    }

    // More than a page of events: the list loads older pages as it scrolls.
    const api = new McpsClient({ baseURL: BASE_URL })
    await api.auth.login({ email: owner.email, password: PASSWORD })
    for (let i = 0; i < 55; i++) await api.tenants.update(team.slug, { name: `${team.name} ${i}` })
    await api.tenants.update(team.slug, { name: team.name })
    await page.goto(`/t/${team.slug}/audit`)
    await page.locator('[data-testid=audit-entry]').nth(49).waitFor()
    for (let i = 0; i < 20 && (await page.locator('[data-testid=audit-end]').count()) === 0; i++) {
      await page.mouse.wheel(0, 4000)
      await page.waitForTimeout(150)
    }
    await page.locator('[data-testid=audit-end]').waitFor()
    expect(await page.locator('[data-testid=audit-entry]').count()).toBeGreaterThan(50)
  })

  it('shows the dashboard with activity, settings, and the admin console', async () => {
    await nav('dashboard.home', '[data-testid=chart] canvas')
    await page.locator('[data-testid=recent] .n-list-item').first().waitFor()
    await screenshot(page, 'dashboard')

    await nav('settings.edit', '[data-testid=settings-workspace][data-loaded=true]')
    await page.fill('input[name=workspace_name]', 'Acme Robotics Ltd')
    await page.click('[data-testid=rename-submit]')
    await page.waitForFunction(() =>
      document.querySelector('[data-testid=tenant-switcher]')?.textContent?.includes('Acme Robotics Ltd'),
    )
    await screenshot(page, 'settings')

    await nav('admin.health', '[data-testid=health-status]')
    expect(await page.locator('[data-testid=health-status]').textContent()).toContain('就绪')
    expect(await page.locator('[data-testid=projections]').textContent()).toContain('audit')
    await screenshot(page, 'admin')
  })

  it('navigates between pages with data on screen fast, and logged no errors', async () => {
    await page.goto(`/t/${team.slug}/dashboard`)
    await page.locator('[data-testid=getting-started]').waitFor()
    for (let round = 0; round < 5; round++) {
      await nav('tokens.list', '[data-testid=token-table]')
      await nav('members.list', '[data-testid=member-table]')
      await nav('audit.list', '[data-testid=audit-entry]')
      await nav('settings.edit', '[data-testid=settings-workspace][data-loaded=true]')
      await nav('dashboard.home', '[data-testid=recent] .n-list-item')
    }
    await page.waitForTimeout(100)
    const timings = await pageTimings(page)
    expect(timings.filter((timing) => !timing.initial).length).toBeGreaterThanOrEqual(25)
    expect(browser.errors).toEqual([])
  })
})
