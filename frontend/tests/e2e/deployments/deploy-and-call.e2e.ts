/**
 * Issue 6's main flow on the real API, with the real deployer and the real `mcp-server-time`:
 * register → create a team → find "time" in the marketplace → deploy it with the wizard → see
 * it healthy (status updated live) → create a token → call a tool in the console → see the
 * call in the analytics → find every step in the audit log (and the call in the call
 * history: billed calls are usage, not audit).
 * Then logs, batch actions, a refused call's field errors, the dashboard, and the pages in
 * English, dark and on a phone. Screenshots of each page land in artifacts/screenshots/.
 */
import { McpsClient } from '@mcps/sdk'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { openBrowser, pageTimings, saveTimings, screenshot, type Browser } from '../support/browser'
import { BASE_URL, PASSWORD } from '../support/env'

const person = { username: 'katherine', email: 'katherine@example.com' }
const team = { name: 'Apollo Guidance', slug: 'apollo-guidance' }
const deployment = 'clock'
/** The deployer starts `mcp-server-time` (installed once into the package store) and checks it. */
const HEALTHY_WITHIN_MS = 90_000

let browser: Browser
let page: Page
let api: McpsClient

async function nav(name: string, ready: string): Promise<void> {
  await page.locator(`[data-testid="nav-${name}"]`).click()
  await page.locator(ready).first().waitFor()
}

async function statusOf(name: string): Promise<string | null> {
  return page.locator(`[data-deployment="${name}"] [data-testid=deployment-status]`).getAttribute('data-status')
}

describe('deploy a server and call it, in the browser', () => {
  beforeAll(async () => {
    browser = await openBrowser()
    page = browser.page
  })

  afterAll(async () => {
    if (page) saveTimings('deployments', await pageTimings(page).catch(() => []))
    await browser?.close()
  })

  it('registers and creates a team', async () => {
    await page.goto('/signup')
    await page.fill('input[name=email]', person.email)
    await page.fill('input[name=username]', person.username)
    await page.fill('input[name=password]', PASSWORD)
    await page.click('[data-testid=submit]')
    await page.locator('[data-testid=signup-done]').waitFor()
    await page.goto('/signin')
    await page.fill('input[name=email]', person.email)
    await page.fill('input[name=password]', PASSWORD)
    await page.click('[data-testid=submit]')
    await page.waitForURL(`**/u/${person.username}/dashboard`)

    await nav('teams.create', 'input[name=name]')
    await page.fill('input[name=name]', team.name)
    await page.click('[data-testid=submit]')
    await page.waitForURL(`**/t/${team.slug}/dashboard`)
    api = new McpsClient({ baseURL: BASE_URL })
    await api.auth.login({ email: person.email, password: PASSWORD })
  })

  it('shows an empty deployments page that points to the marketplace', async () => {
    await nav('deployments.list', '[data-testid=empty-state]')
    expect(await page.locator('[data-testid=empty-marketplace]').count()).toBe(1)
    await screenshot(page, 'deployments-empty')
  })

  it('finds "time" in the marketplace and deploys it with the wizard', async () => {
    await page.click('[data-testid=empty-marketplace]')
    await page.waitForURL('**/marketplace')
    await page.fill('[data-testid=search] input', 'time')
    // Until the search has answered: a card of the full list, clicked while the results
    // replace it, is a click on a node that is gone.
    await page.waitForFunction(() => {
      const results = document.querySelector('[data-testid=results]')
      const cards = results?.querySelectorAll('[data-testid=service-card]') ?? []
      const names = [...cards].map((card) => card.getAttribute('data-service'))
      return results !== null && !results.classList.contains('stale') && names.join() === 'time'
    })
    const card = page.locator('[data-testid=service-card][data-service=time]')
    await screenshot(page, 'marketplace-search-time')
    await card.click()
    await page.locator('[data-testid=service-header][data-service=time]').waitFor()
    await page.click('[data-testid=deploy]')

    // 1: where, which version, under what name; the workspace in view is chosen already.
    await page.locator('[data-testid=deploy-step-1]').waitFor()
    expect(await page.locator('[data-testid=deploy-workspace]').textContent()).toContain(team.name)
    await page.fill('input[name=deployment_name]', deployment)
    await page.click('[data-testid=deploy-step-1] [data-testid=deploy-next]')
    // 2: the configuration, a form made from the version's JSON Schema.
    await page.locator('[data-testid=deploy-step-2] input[name=local_timezone]').fill('Asia/Shanghai')
    await page.click('[data-testid=deploy-step-2] [data-testid=deploy-next]')
    // 3: a last look, then deploy: the deployment's own page opens.
    expect(await page.locator('[data-testid=deploy-summary]').textContent()).toContain('Asia/Shanghai')
    await page.click('[data-testid=deploy-submit]')
    await page.waitForURL(`**/t/${team.slug}/deployments/${deployment}`)
  })

  it('sees it become healthy without reloading the page', async () => {
    // The page follows the status by itself: pending, then an instance starting, then healthy.
    await page.locator('[data-testid=deployment-facts]').waitFor()
    await page
      .locator('[data-testid=instance-health][data-health=healthy]')
      .waitFor({ timeout: HEALTHY_WITHIN_MS })
    expect(await page.locator('[data-testid=deployment-facts] [data-testid=deployment-status]').getAttribute('data-status')).toBe(
      'running',
    )
    await nav('deployments.list', `[data-deployment="${deployment}"]`)
    expect(await statusOf(deployment)).toBe('running')
    expect(await page.locator(`[data-deployment="${deployment}"] [data-testid=deployment-status]`).textContent()).toContain('1/1')
    await screenshot(page, 'deployments')
  })

  it('opens the deployment: a healthy instance, its version and its configuration', async () => {
    await page.click(`[data-testid=open-${deployment}]`)
    await page.waitForURL(`**/t/${team.slug}/deployments/${deployment}`)
    await page.locator('[data-testid=instance-health][data-health=healthy]').waitFor()
    expect(await page.locator('[data-testid=current-version]').textContent()).toContain('2026.10.19')
    expect(await page.locator('[data-testid=config] [data-key=local_timezone]').textContent()).toContain('Asia/Shanghai')
    await page.locator('[data-testid=upgrade-version]').waitFor()
    expect(await page.locator('[data-testid=rollback]').isDisabled()).toBe(true) // nothing to roll back to
    await screenshot(page, 'deployment-detail')
  })

  it('follows the logs live', async () => {
    await page.click('.n-tabs-tab:has-text("日志")')
    await page.locator('[data-testid=log-state][data-state=live]').waitFor()
    await page.locator('[data-testid=log-line]', { hasText: 'ready: mcp-time' }).waitFor({ timeout: 30_000 })
    await screenshot(page, 'deployment-logs')
  })

  it('creates an API token for programs', async () => {
    await nav('tokens.list', '[data-testid=token-create]')
    await page.click('[data-testid=token-create]')
    const dialog = page.locator('[data-testid=token-create-dialog]')
    await dialog.locator('input[name=name]').fill('agent')
    await page.click('[data-testid=token-create-submit]')
    const secret = await page.locator('[data-testid=copy-field-value]').inputValue()
    expect(secret).toMatch(/^mcps_/)
    await page.click('[data-testid=token-issued-done]')
    await page.locator('[data-token=agent]').waitFor()
    // The token calls the deployment too, as a program would.
    const agent = new McpsClient({ baseURL: BASE_URL, apiKey: secret })
    const answer = await agent.mcp.call(deployment, { method: 'get_current_time', params: { timezone: 'UTC' } })
    expect(answer.success).toBe(true)
  })

  it('calls a tool in the console with a form made from its input schema', async () => {
    await page.goto(`/t/${team.slug}/deployments/${deployment}?tab=console`)
    await page.locator('[data-testid=console-tool]').waitFor()
    const timezone = page.locator('[data-testid=console] input[name=timezone]')
    await timezone.waitFor()

    // The browser checks what it can before sending: the required field.
    await page.click('[data-testid=console-call]')
    await page.locator('[data-testid="schema-field-timezone"] .n-form-item-feedback__line').waitFor()
    expect(await page.locator('[data-testid=console-result]').count()).toBe(0)

    await timezone.fill('Europe/Berlin')
    await page.click('[data-testid=console-call]')
    const result = page.locator('[data-testid=console-result]')
    await result.waitFor()
    expect(await result.getAttribute('data-success')).toBe('true')
    expect(await page.locator('[data-testid=console-output]').first().textContent()).toContain('Europe/Berlin')
    expect(await page.locator('[data-testid=console-duration]').textContent()).toMatch(/\d/)
    await screenshot(page, 'deployment-console')

    // A tool error comes back in the envelope (200, success false), not as a problem.
    await timezone.fill('Mars/Olympus_Mons')
    await page.click('[data-testid=console-call]')
    await page.locator('[data-testid=console-result][data-success=false]').waitFor()
    expect(await page.locator('[data-testid=console-error]').textContent()).toContain('tool_error')
  })

  it('shows the gateway’s 422 field errors for arguments that break the schema', async () => {
    await page.click('[data-testid=console-mode-json]')
    await page.fill('[data-testid=console-json] textarea', '{"timezone": 42}')
    await page.click('[data-testid=console-call]')
    const problem = page.locator('[data-testid=console] [data-testid=problem]')
    await problem.waitFor()
    expect(await problem.getAttribute('data-code')).toBe('gateway.invalid_params')
    expect(await problem.textContent()).toContain('参数不符合工具的输入模式')
    const fieldErrors = page.locator('[data-testid=console-field-errors] [data-field=timezone]')
    await fieldErrors.waitFor()
    expect(await fieldErrors.textContent()).toContain('is not of type')
    await screenshot(page, 'deployment-console-422')
    // Back in the form, the server's message sits under the field.
    await page.click('[data-testid=console-mode-form]')
    expect(await page.locator('[data-testid="schema-field-timezone"]').textContent()).toContain('is not of type')
  })

  it('sees the calls in the analytics charts, the top tools and the call history', async () => {
    await nav('usage', '[data-testid=usage-summary]')
    const chart = page.locator('[data-testid=usage-chart-calls]')
    // The usage store is a second or so behind the calls: refresh until all three show.
    for (let i = 0; i < 40; i++) {
      await chart.waitFor()
      if (Number(await chart.getAttribute('data-total')) >= 3) break
      await page.waitForTimeout(500)
      await page.click('[data-testid=usage-refresh]')
    }
    expect(Number(await chart.getAttribute('data-total'))).toBe(3)
    await chart.locator('canvas').waitFor()
    await page.locator('[data-testid=usage-chart-latency] canvas').waitFor()
    expect(await page.locator('[data-testid=usage-total-calls]').textContent()).toContain('3')
    expect(await page.locator('[data-testid=usage-error-rate]').textContent()).toContain('33.3%')
    expect(await page.locator('[data-testid=usage-top-tools] [data-tool=get_current_time]').textContent()).toContain('3')

    await page.click('[data-testid=history-refresh]')
    await page.locator('[data-testid=history-call]').nth(2).waitFor()
    expect(await page.locator('[data-testid=history-call]').count()).toBe(3)
    await screenshot(page, 'usage')

    // Grouped by token: the program's token by its name, the console's calls as the session.
    await page.click('[data-testid=usage-group]')
    await page.locator('.n-base-select-option', { hasText: '按令牌' }).click()
    await page.waitForURL('**/usage?group=token')
    await page.locator('[data-testid=usage-chart-calls][data-total="3"] canvas').waitFor()
    await screenshot(page, 'usage-by-token')
  })

  it('sums up the workspace on the dashboard: deployments, calls and errors today, spend', async () => {
    await nav('dashboard.home', '[data-testid=glance-deployments]')
    await page.locator('[data-testid=glance-deployments] [data-count=running]').waitFor()
    expect(await page.locator('[data-testid=glance-calls-today]').textContent()).toContain('3')
    expect(await page.locator('[data-testid=glance-errors-today]').textContent()).toContain('1')
    expect(await page.locator('[data-testid=glance-spend]').textContent()).toContain('USD')
    expect(await page.locator('[data-step=deploy]').getAttribute('data-done')).toBe('true')
    await screenshot(page, 'dashboard-deployed')
  })

  it('acts on many deployments at once, with a result for each', async () => {
    await api.deployments.create(team.slug, { name: 'clock-two', service: 'time' })
    await nav('deployments.list', `[data-deployment=clock-two]`)
    await page.click('[data-testid=select-all]')
    await page.click('[data-testid=batch-stop]')
    await page.click('.n-popconfirm .n-button--primary-type, .n-popconfirm button:has-text("停止")')
    const results = page.locator('[data-testid=batch-results]')
    await results.waitFor()
    expect(await results.locator('[data-ok=true]').count()).toBe(2)
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('[data-testid=deployment-status]')].every(
          (tag) => tag.getAttribute('data-status') === 'stopped',
        ),
      undefined,
      { timeout: 60_000 },
    )
    await screenshot(page, 'deployments-batch')

    // One start for both; clock-two is deleted on its own page.
    await page.click('[data-testid=select-all]')
    await page.click('[data-testid=batch-start]')
    await results.locator('[data-ok=true]').nth(1).waitFor()
    await page.click('[data-testid=open-clock-two]')
    await page.click('[data-testid=action-delete]')
    await page.click('.n-popconfirm button:has-text("删除")')
    await page.waitForURL(`**/t/${team.slug}/deployments`)
    await page.waitForFunction(() => !document.querySelector('[data-deployment=clock-two]'))
    await page.waitForFunction(
      (name) => document.querySelector(`[data-deployment="${name}"] [data-testid=deployment-status]`)?.getAttribute('data-status') === 'running',
      deployment,
      { timeout: HEALTHY_WITHIN_MS },
    )
  })

  it('upgrades to another version and rolls back, one replica at a time', async () => {
    // The team publishes its own service in two versions, both running the time server.
    const time = (await api.services.versions('time')).find((v) => v.version === '2026.10.19')!
    const release = (version: string) => ({
      version,
      changelog: `clock ${version}`,
      runtime: time.runtime,
      config_schema: time.config_schema,
      tools: time.tools,
    })
    await api.services.create({ name: 'team-clock', display_name: 'Team clock', publisher: team.slug })
    await api.services.release('team-clock', release('1.0.0') as never)
    await api.services.release('team-clock', release('1.1.0') as never)
    await api.services.publish('team-clock')
    await api.deployments.create(team.slug, { name: 'rolling', service: 'team-clock', version: '1.0.0' })

    await page.goto(`/t/${team.slug}/deployments/rolling`)
    const current = page.locator('[data-testid=current-version]')
    await page.locator('[data-testid=instance-health][data-health=healthy]').waitFor({ timeout: HEALTHY_WITHIN_MS })
    expect(await current.textContent()).toContain('1.0.0')

    await page.click('[data-testid=upgrade-version]')
    await page.locator('.n-base-select-option', { hasText: '1.1.0' }).click()
    await page.click('[data-testid=upgrade]')
    await page.click('.n-popconfirm button:has-text("升级")')
    await page.waitForFunction(
      () => document.querySelector('[data-testid=current-version]')?.textContent?.includes('1.1.0'),
      undefined,
      { timeout: HEALTHY_WITHIN_MS },
    )
    // Rolling: the new instance is healthy before the old one goes, then only it is left.
    await page.waitForFunction(
      () => {
        const rows = [...document.querySelectorAll('[data-instance]')]
        return (
          rows.length === 1 &&
          rows[0]?.querySelector('[data-testid=instance-version]')?.textContent?.includes('1.1.0') &&
          rows[0]?.querySelector('[data-testid=instance-health]')?.getAttribute('data-health') === 'healthy'
        )
      },
      undefined,
      { timeout: HEALTHY_WITHIN_MS },
    )
    await screenshot(page, 'deployment-upgraded')

    expect(await page.locator('[data-testid=rollback]').textContent()).toContain('1.0.0')
    await page.click('[data-testid=rollback]')
    await page.click('.n-popconfirm button:has-text("回滚")')
    await page.waitForFunction(
      () => document.querySelector('[data-testid=current-version]')?.textContent?.includes('1.0.0'),
      undefined,
      { timeout: HEALTHY_WITHIN_MS },
    )
    await page.waitForFunction(
      () => {
        const rows = [...document.querySelectorAll('[data-instance]')]
        return rows.length === 1 && rows[0]?.querySelector('[data-testid=instance-version]')?.textContent?.includes('1.0.0')
      },
      undefined,
      { timeout: HEALTHY_WITHIN_MS },
    )

    // Scale to two replicas; the plan's limit (two on the free plan) refuses three.
    await page.click('[data-testid=action-scale]')
    await page.fill('[data-testid=scale-dialog] input[name=replicas]', '3')
    await page.click('[data-testid=scale-submit]')
    const refused = page.locator('[data-testid=scale-dialog] [data-testid=problem]')
    await refused.waitFor()
    expect(await refused.getAttribute('data-code')).toBe('deployment.replica_limit')
    await page.fill('[data-testid=scale-dialog] input[name=replicas]', '2')
    await page.click('[data-testid=scale-submit]')
    await page.locator('[data-testid=instance-health][data-health=healthy]').nth(1).waitFor({ timeout: HEALTHY_WITHIN_MS })
    await screenshot(page, 'deployment-scaled')

    // Autoscaling within a range, refused beyond the plan's limit under the field at fault.
    await page.click('[data-testid=action-scale]')
    await page.click('[data-testid=scale-mode-auto]')
    await page.fill('[data-testid=scale-dialog] input[name=min_replicas]', '1')
    await page.fill('[data-testid=scale-dialog] input[name=max_replicas]', '3')
    await page.click('[data-testid=scale-submit]')
    const feedback = page.locator('[data-testid=scale-dialog] .n-form-item-feedback__line')
    await feedback.first().waitFor()
    expect(await feedback.first().textContent()).toContain('套餐') // deployment.replica_limit, under max_replicas
    await page.fill('[data-testid=scale-dialog] input[name=max_replicas]', '2')
    await page.click('[data-testid=scale-submit]')
    await page.locator('[data-testid=autoscaling]').waitFor()
    expect(await page.locator('[data-testid=autoscaling]').textContent()).toContain('1–2')
    await page.locator('[data-testid=scale-dialog]').waitFor({ state: 'hidden' })
    await screenshot(page, 'deployment-autoscaling')
    // Back to a fixed number: autoscaling stops, one replica is left.
    await page.click('[data-testid=action-scale]')
    await page.click('[data-testid=scale-mode-fixed]')
    await page.fill('[data-testid=scale-dialog] input[name=replicas]', '1')
    await page.click('[data-testid=scale-submit]')
    await page.waitForFunction(() => !document.querySelector('[data-testid=autoscaling]'))
    await page.waitForFunction(() => document.querySelectorAll('[data-instance]').length === 1, undefined, {
      timeout: HEALTHY_WITHIN_MS,
    })
  })

  it('finds every step in the audit log', async () => {
    await nav('audit.list', '[data-testid=audit-entry]')
    // What people did. (The deployer's own facts, instance started and health changed, carry
    // no tenant today, so the tenant's log does not list them; the deployment page shows them.)
    const wanted = [
      'tenancy.Tenant.Created',
      'deployments.Deployment.Requested',
      'tenancy.ApiToken.Issued',
      'deployments.Deployment.StopRequested',
      'deployments.Deployment.StartRequested',
      'deployments.Deployment.Deleted',
      'deployments.Deployment.Upgraded',
      'deployments.Deployment.RolledBack',
      'deployments.Deployment.Scaled',
      'deployments.Deployment.AutoscalingSet',
    ]
    let types: string[] = []
    for (let i = 0; i < 20; i++) {
      types = await page
        .locator('[data-testid=audit-entry]')
        .evaluateAll((entries) => entries.map((entry) => entry.getAttribute('data-event-type') ?? ''))
      if (wanted.every((type) => types.includes(type))) break
      await page.waitForTimeout(500)
      await page.reload()
      await page.locator('[data-testid=audit-entry]').first().waitFor()
    }
    for (const type of wanted) expect(types).toContain(type)
    // Deployment events read as words, in the reader's language.
    expect(await page.locator('[data-event-type="deployments.Deployment.Requested"]').first().textContent()).toContain('已请求部署')
    await screenshot(page, 'audit-deployments')
  })

  it('navigates between the pages with their data on screen fast, and logged no errors', async () => {
    for (let round = 0; round < 5; round++) {
      await nav('deployments.list', `[data-deployment="${deployment}"] [data-testid=deployment-status]`)
      await page.click(`[data-testid=open-${deployment}]`)
      await page.locator('[data-testid=instance-health]').first().waitFor()
      await nav('usage', '[data-testid=usage-total-calls]')
      await nav('dashboard.home', '[data-testid=glance-calls-today]')
    }
    await page.waitForTimeout(100)
    const timings = (await pageTimings(page)).filter((timing) => !timing.initial)
    for (const name of ['deployments.list', 'deployments.detail', 'usage', 'dashboard.home']) {
      expect(timings.filter((timing) => timing.name === name).length, name).toBeGreaterThanOrEqual(5)
    }
    expect(browser.errors).toEqual([])
  })
})

describe('the deployment pages in English, dark, and on a phone', () => {
  let phone: Browser

  beforeAll(async () => {
    phone = await openBrowser({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'en-US' })
    await phone.page.goto('/signin')
    await phone.page.evaluate(() => localStorage.setItem('mcps.preferences', JSON.stringify({ locale: 'en', theme: 'dark' })))
    await phone.page.fill('input[name=email]', person.email)
    await phone.page.fill('input[name=password]', PASSWORD)
    await phone.page.click('[data-testid=submit]')
    await phone.page.waitForURL('**/dashboard')
  })

  afterAll(async () => phone?.close())

  async function fitsWidth(): Promise<boolean> {
    return phone.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1)
  }

  it('lists, opens, logs, calls and charts without sideways scrolling', async () => {
    const { page: p } = phone
    await p.goto(`/t/${team.slug}/deployments`)
    await p.locator(`[data-deployment=${deployment}]`).waitFor()
    expect(await p.locator('h1').textContent()).toBe('Deployments')
    expect(await fitsWidth()).toBe(true)
    await screenshot(p, 'deployments-phone-dark')

    await p.goto(`/t/${team.slug}/deployments/${deployment}`)
    await p.locator('[data-testid=instance-health]').first().waitFor()
    expect(await fitsWidth()).toBe(true)
    const health = await p.locator('[data-testid=instance-health]').first().boundingBox()
    expect((health?.x ?? 999) + (health?.width ?? 0)).toBeLessThanOrEqual(390) // on screen, not scrolled away
    await screenshot(p, 'deployment-detail-phone-dark')

    await p.goto(`/t/${team.slug}/deployments/${deployment}?tab=console`)
    await p.locator('[data-testid=console] input[name=timezone]').fill('Asia/Tokyo')
    await p.click('[data-testid=console-call]')
    await p.locator('[data-testid=console-result][data-success=true]').waitFor()
    expect(await fitsWidth()).toBe(true)
    await screenshot(p, 'deployment-console-phone-dark')

    await p.goto(`/t/${team.slug}/usage`)
    await p.locator('[data-testid=usage-chart-calls] canvas').waitFor()
    expect(await p.locator('h1').textContent()).toBe('Usage and analytics')
    expect(await fitsWidth()).toBe(true)
    await screenshot(p, 'usage-phone-dark')
    expect(phone.errors).toEqual([])
  })
})
