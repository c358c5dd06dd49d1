/**
 * The marketplace in the browser, on the real API: search as you type (a partial word, a
 * Chinese word), facets, a service's page (tools, configuration, markdown rendered without
 * running the `<script>` and `onerror` a publisher put in it), a review written and edited,
 * and the deploy wizard building its form from the version's config schema (a secret as a
 * password field, the browser's checks, the server's 422 mapped onto a field), deploying, and
 * the "has deployed it" badge. Anonymous, signed in, English, dark and phone-sized.
 */
import { McpsClient } from '@mcps/sdk'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { openBrowser, pageTimings, saveTimings, screenshot, type Browser } from '../support/browser'
import { BASE_URL, PASSWORD } from '../support/env'

const run = Date.now().toString(36)
const publisher = { username: `vaultco-${run}`, email: `vaultco-${run}@example.com` }
const reviewer = { username: `rita-${run}`, email: `rita-${run}@example.com` }
const service = `vault-${run}`
const deployment = `vault-${run}`.slice(0, 40)
const SECRET = 'sk-live-7b1f2e9c'

/** What a careless or hostile publisher might write: it must stay text. */
const DESCRIPTION = [
  '# Secure Vault',
  '',
  'Keeps **secrets** for agents. 为智能体保管密钥的保险库。',
  '',
  '<script>window.__pwned = "script"</script>',
  '',
  'An image: <img src=x onerror="window.__pwned = \'onerror\'">',
  '',
  '[click me](javascript:window.__pwned="link") and [the docs](https://example.com/docs).',
  '',
  '- fast',
  '- safe',
].join('\n')

/** The template library's `time` server, with a secret and rules the form must honour. */
const RELEASE = {
  version: '1.0.0',
  changelog: '## First release\n\n- tokens *sealed* at rest',
  runtime: {
    kind: 'process' as const,
    package: { registry: 'pypi', name: 'mcp-server-time', version: '2026.10.19' },
    command: 'mcp-server-time',
    args: ['--local-timezone', '{{config.local_timezone}}'],
    env: { VAULT_TOKEN: '{{config.api_token}}' },
  },
  config_schema: {
    type: 'object',
    required: ['api_token'],
    properties: {
      api_token: { type: 'string', writeOnly: true, title: 'API token', minLength: 8 },
      local_timezone: { type: 'string', default: 'UTC', pattern: '^[A-Za-z_]+(/[A-Za-z_]+)*$' },
      region: { type: 'string', enum: ['cn-north', 'us-east'], default: 'cn-north' },
      retries: { type: 'integer', minimum: 0, maximum: 10, multipleOf: 2, default: 2 },
      verbose: { type: 'boolean', description: 'Log every call' },
    },
  },
  tools: [
    {
      name: 'get_current_time',
      description: 'Get the current time in a timezone',
      input_schema: {
        type: 'object',
        required: ['timezone'],
        properties: { timezone: { type: 'string', description: 'IANA name, e.g. Asia/Shanghai' } },
      },
    },
  ],
}

let browser: Browser
let page: Page

/** The names of the cards on screen once they stop changing to `expected`. */
async function cardsBecome(expected: (names: string[]) => boolean): Promise<string[]> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const names = await page
      .locator('[data-testid=results] [data-testid=service-card]')
      .evaluateAll((cards) => cards.map((card) => card.getAttribute('data-service') ?? ''))
    const stale = await page.locator('[data-testid=results].stale').count()
    if (!stale && expected(names)) return names
    if (Date.now() > deadline) throw new Error(`the results stayed ${JSON.stringify(names)}`)
    await page.waitForTimeout(100)
  }
}

async function search(text: string): Promise<void> {
  await page.fill('input[name=q]', text)
  await page.waitForURL((url) => (url.searchParams.get('q') ?? '') === text)
}

async function noScriptRan(target: Page): Promise<void> {
  expect(await target.evaluate(() => (window as unknown as { __pwned?: string }).__pwned)).toBeUndefined()
}

async function signIn(target: Page, who: { email: string }): Promise<void> {
  await target.fill('input[name=email]', who.email)
  await target.fill('input[name=password]', PASSWORD)
  await target.click('[data-testid=submit]')
}

beforeAll(async () => {
  // The publisher lists the service through the API (the publisher spec does it in the browser).
  const api = new McpsClient({ baseURL: BASE_URL })
  await api.auth.register({ email: publisher.email, username: publisher.username, password: PASSWORD })
  await api.auth.login({ email: publisher.email, password: PASSWORD })
  await api.services.create({
    name: service,
    display_name: 'Secure Vault 保险库',
    description: DESCRIPTION,
    category: 'security',
    tags: ['vault', 'secrets'],
    pricing: { model: 'FREEMIUM', price_per_request: '0.0020', free_calls_per_month: 1000, currency: 'USD' },
    repository_url: 'https://example.com/vault',
  })
  await api.services.release(service, RELEASE)
  await api.services.publish(service)
  await api.services.list({ q: service }, { wait_for: api.position }) // listed before the browser looks

  const other = new McpsClient({ baseURL: BASE_URL })
  await other.auth.register({ email: reviewer.email, username: reviewer.username, password: PASSWORD })
})

describe('the marketplace, anonymous', () => {
  beforeAll(async () => {
    browser = await openBrowser()
    page = browser.page
  })

  afterAll(async () => {
    if (page) saveTimings('marketplace', await pageTimings(page).catch(() => []))
    await browser?.close()
  })

  it('lists the template library and our service to anyone, with facet counts', async () => {
    await page.goto('/marketplace')
    const names = await cardsBecome((found) => found.includes('time') && found.includes(service))
    expect(names).toEqual(expect.arrayContaining(['time', 'fetch', 'git', 'everything', 'filesystem', service]))
    expect(await page.locator('[data-testid=shell-signin]').count()).toBe(1) // not signed in
    const security = page.locator('[data-facet=category] [data-value=security]')
    expect(Number(await security.locator('.count').textContent())).toBeGreaterThanOrEqual(1)
    await screenshot(page, 'marketplace')
  })

  it('finds a service by a partial word and by a Chinese word, as you type', async () => {
    await search('tim')
    expect(await cardsBecome((found) => found[0] === 'time')).toContain('time')

    await search('保险')
    expect(await cardsBecome((found) => found.includes(service) && !found.includes('time'))).not.toContain('fetch')
    await screenshot(page, 'marketplace-search-zh')

    await search('时间')
    expect(await cardsBecome((found) => found.includes('time') && !found.includes(service))).toContain('time')

    await search('zzqqxx-nothing')
    await page.locator('[data-testid=empty-state]').waitFor()
    await screenshot(page, 'marketplace-empty')
    await page.click('[data-testid=clear-search]')
    await page.waitForURL((url) => !url.searchParams.has('q'))
    await cardsBecome((found) => found.includes('time'))
  })

  it('narrows the results with facets, and back', async () => {
    await page.click('[data-facet=category] [data-value=security]')
    await page.waitForURL((url) => url.searchParams.get('category') === 'security')
    expect(await cardsBecome((found) => !found.includes('time'))).toContain(service)
    expect(await page.locator('[data-facet=category] [data-value=security]').getAttribute('aria-pressed')).toBe('true')

    await page.click('[data-facet=category] [data-value=security]')
    await page.click('[data-facet=pricing] [data-value=FREEMIUM]')
    await page.waitForURL((url) => url.searchParams.get('pricing') === 'FREEMIUM' && !url.searchParams.has('category'))
    expect(await cardsBecome((found) => !found.includes('time'))).toContain(service)
    await page.click('[data-facet=tags] [data-value=vault]')
    await page.waitForURL((url) => url.searchParams.get('tags') === 'vault')
    const tagged = await cardsBecome((found) => found.includes(service))
    expect(tagged.filter((name) => !name.startsWith('vault-'))).toEqual([]) // only vaults
    await screenshot(page, 'marketplace-facets')

    await page.click('[data-testid=clear-filters]')
    await cardsBecome((found) => found.includes('time'))
    // The search is in the URL: a link or a reload shows the same.
    await page.goto('/marketplace?sort=newest&runtime=process')
    const newest = await cardsBecome((found) => found.length > 0)
    expect(newest[0]).toBe(service)
    expect(await page.locator('[data-testid=sort]').getAttribute('data-selected')).toBe('newest')
  })

  it("shows a service's page: markdown rendered as text where it is HTML, and nothing run", async () => {
    await page.goto('/marketplace')
    await page.click(`[data-testid=service-card][data-service="${service}"]`)
    await page.waitForURL(`**/marketplace/${service}`)
    const docs = page.locator('[data-testid=service-docs][data-rendered=true]')
    await docs.waitFor()
    expect(await docs.locator('h1').textContent()).toBe('Secure Vault')
    expect(await docs.locator('strong').first().textContent()).toBe('secrets')
    expect(await docs.locator('li').count()).toBe(2)
    expect(await docs.locator('a[href="https://example.com/docs"]').getAttribute('rel')).toContain('noopener')
    // The HTML a publisher wrote is shown as text, never run or rendered.
    const text = (await docs.textContent()) ?? ''
    expect(text).toContain('<script>window.__pwned = "script"</script>')
    expect(text).toContain('onerror=')
    expect(await docs.locator('script, img, [onerror], a[href^="javascript"]').count()).toBe(0)
    await noScriptRan(page)
    expect(await page.locator('[data-testid=pricing]').textContent()).toContain('1,000')
    await screenshot(page, 'service-overview')
  })

  it('lists the tools with their input schemas, the configuration and the versions', async () => {
    await page.click('.n-tabs-tab[data-name=tools]')
    await page.locator('[data-tool=get_current_time]').waitFor()
    await page.locator('[data-tool=get_current_time] [data-property=timezone]').waitFor()
    await screenshot(page, 'service-tools')

    await page.click('.n-tabs-tab[data-name=config]')
    const secret = page.locator('[data-testid=schema-table] [data-property=api_token]')
    await secret.waitFor()
    expect(await secret.locator('[data-testid=secret-flag]').count()).toBe(1)
    expect(await page.locator('[data-testid=schema-table] [data-property=region]').textContent()).toContain('"cn-north"')

    await page.click('.n-tabs-tab[data-name=versions]')
    const version = page.locator('[data-testid=versions] [data-version="1.0.0"]')
    await version.waitFor()
    await version.locator('[data-testid=markdown][data-rendered=true] h2').waitFor()
    expect(await version.locator('em').textContent()).toBe('sealed')
    await noScriptRan(page)
  })

  it('asks a visitor to sign in to review or deploy', async () => {
    await page.click('.n-tabs-tab[data-name=reviews]')
    await page.locator('[data-testid=review-signin]').waitFor()
    await page.locator('[data-testid=rating-histogram] canvas').waitFor()
    await page.click('[data-testid=deploy]')
    await page.waitForURL('**/signin?redirect=**')
    expect(decodeURIComponent(page.url())).toContain(`/marketplace/${service}/deploy`)
    expect(browser.errors).toEqual([])
  })
})

describe('the marketplace, signed in', () => {
  beforeAll(async () => {
    browser = await openBrowser()
    page = browser.page
    await page.goto(`/marketplace/${service}?tab=reviews`)
    await page.click('[data-testid=review-signin]')
    await signIn(page, reviewer)
    await page.waitForURL(`**/marketplace/${service}?tab=reviews`)
  })

  afterAll(async () => {
    if (page) saveTimings('marketplace-signed-in', await pageTimings(page).catch(() => []))
    await browser?.close()
  })

  it('writes a review, then edits it', async () => {
    const form = page.locator('[data-testid=review-form]')
    await form.waitFor()
    await page.click('[data-testid=review-submit]') // no stars yet: the browser says so
    await form.locator('.n-form-item-feedback__line').first().waitFor()
    await form.locator('.n-rate__item').nth(3).click()
    await form.locator('textarea[name=comment]').fill('Handy: 时区换算很准。')
    await page.click('[data-testid=review-submit]')
    const mine = page.locator(`[data-testid=reviews] [data-review="${reviewer.username}"]`)
    await mine.waitFor()
    expect(await mine.textContent()).toContain('时区换算很准')
    await page.waitForFunction(() => document.querySelector('[data-testid=rating-average]')?.textContent?.includes('4.0'))

    await page.click('[data-testid=review-edit]')
    await form.locator('.n-rate__item').nth(4).click()
    await page.click('[data-testid=review-submit]')
    await page.waitForFunction(() => document.querySelector('[data-testid=rating-average]')?.textContent?.includes('5.0'))
    await screenshot(page, 'service-reviews')
  })

  it('deploys through the wizard: a form made from the config schema, with the secret as a password', async () => {
    await page.click('[data-testid=deploy]')
    await page.waitForURL(`**/marketplace/${service}/deploy`)
    // Step 1: the personal workspace, the latest version, a name.
    await page.locator(`[data-testid=deploy-workspace][data-selected="${reviewer.username}"]`).waitFor()
    await page.locator('[data-testid=deploy-version][data-selected="1.0.0"]').waitFor()
    await page.fill('input[name=deployment_name]', deployment)
    await screenshot(page, 'deploy-wizard-target')
    await page.click('[data-testid=deploy-step-1] [data-testid=deploy-next]')

    // Step 2: the generated form.
    const secret = page.locator('input[name=api_token]')
    await secret.waitFor()
    expect(await secret.getAttribute('type')).toBe('password')
    expect(await page.locator('[data-testid="schema-field-api_token"] .n-form-item-label').textContent()).toContain('API token')
    expect(await page.inputValue('input[name=local_timezone]')).toBe('UTC') // the default
    expect(await page.locator('[data-testid="schema-field-region"]').getAttribute('data-kind')).toBe('enum')
    expect(await page.locator('[data-testid="schema-field-retries"]').getAttribute('data-kind')).toBe('integer')
    expect(await page.locator('[data-testid="schema-field-verbose"]').getAttribute('data-kind')).toBe('boolean')

    // The browser's own checks: required, then too short, then a pattern.
    const next = page.locator('[data-testid=deploy-step-2] [data-testid=deploy-next]')
    await next.click()
    const feedback = (field: string) => page.locator(`[data-testid="schema-field-${field}"] .n-form-item-feedback__line`)
    expect(await feedback('api_token').textContent()).toContain('必填')
    await secret.fill('short')
    await page.fill('input[name=local_timezone]', 'Asia Shanghai')
    await next.click()
    expect(await feedback('api_token').textContent()).toContain('至少 8 个字符')
    expect(await feedback('local_timezone').textContent()).toContain('须符合格式')
    await screenshot(page, 'deploy-wizard-config-errors')
    await secret.fill(SECRET)
    await page.fill('input[name=local_timezone]', 'Asia/Shanghai')
    await page.fill('input[name=retries]', '3') // odd: only the server knows multipleOf
    await page.locator('input[name=retries]').blur()
    await next.click()

    // Step 3: the secret is not shown back.
    const summary = page.locator('[data-testid=deploy-summary]')
    await summary.waitFor({ state: 'visible' })
    expect(await summary.textContent()).toContain('Asia/Shanghai')
    expect(await summary.textContent()).not.toContain(SECRET)
    await screenshot(page, 'deploy-wizard-review')

    // The API's 422 lands on the field it is about, back on the configuration step.
    await page.click('[data-testid=deploy-submit]')
    await feedback('retries').waitFor()
    expect(await feedback('retries').textContent()).toContain('multiple of 2')
    expect(await page.locator('[data-testid=deploy-step-2]').isVisible()).toBe(true)

    await page.fill('input[name=retries]', '4')
    await page.locator('input[name=retries]').blur()
    await next.click()
    await page.click('[data-testid=deploy-submit]')
    await page.waitForURL(`**/u/${reviewer.username}/deployments/${deployment}`)
    expect(await page.content()).not.toContain(SECRET)
  })

  it('marks the review of someone who has deployed the service', async () => {
    await page.goto(`/marketplace/${service}?tab=reviews`)
    const mine = page.locator(`[data-testid=reviews] [data-review="${reviewer.username}"]`)
    await mine.waitFor()
    // Posted before the deployment, the review now says its author runs the service.
    await mine.locator('[data-testid=has-deployed]').waitFor()
    await page.locator('[data-testid=deployed-here]').waitFor()
    expect(browser.errors).toEqual([])
  })
})

describe('the marketplace in English, dark, on a phone', () => {
  let phone: Browser

  beforeAll(async () => {
    phone = await openBrowser({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, colorScheme: 'dark' })
    await phone.context.addInitScript(() =>
      localStorage.setItem('mcps.preferences', JSON.stringify({ locale: 'en', theme: 'dark' })),
    )
  })

  afterAll(async () => phone?.close())

  it('fits the screen, with the filters behind a button', async () => {
    const { page: small } = phone
    await small.goto('/marketplace')
    await small.locator('[data-testid=service-card]').first().waitFor()
    expect(await small.locator('h1').textContent()).toBe('Marketplace')
    expect(await small.getAttribute('html', 'data-theme')).toBe('dark')
    expect(await small.locator('[data-testid=facets]').count()).toBe(0)
    await small.click('[data-testid=toggle-filters]')
    await small.locator('[data-testid=facets]').waitFor()
    expect(await small.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1)).toBe(true)
    await screenshot(small, 'marketplace-phone-dark')

    await small.goto(`/marketplace/${service}`)
    await small.locator('[data-testid=service-docs][data-rendered=true]').waitFor()
    expect(await small.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1)).toBe(true)
    await screenshot(small, 'service-phone-dark')
    expect(phone.errors).toEqual([])
  })
})
