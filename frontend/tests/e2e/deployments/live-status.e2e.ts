/**
 * Issue 6's live list: the deployments page follows the status stream, so a deployment
 * stopped elsewhere (here through the SDK) shows `stopped` without the page reloading; and a
 * deployment's configuration edited in its dialog round-trips, its secret kept.
 * tests/e2e/test_web_deployments.py runs it without a deployer (a deployment stays `pending`
 * until stopped); the whole browser run (test_web_app.py) runs it with one.
 */
import { McpsClient } from '@mcps/sdk'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { openBrowser, screenshot, signIn, type Browser } from '../support/browser'
import { BASE_URL, PASSWORD } from '../support/env'

const person = { username: 'hedy', email: 'hedy@example.com' }
const slug = 'harbour'
const service = 'tide-clock'
const name = 'ticker'

let browser: Browser
let page: Page
let api: McpsClient

function statusOf(deployment: string): Promise<string | null> {
  return page.locator(`[data-deployment="${deployment}"] [data-testid=deployment-status]`).getAttribute('data-status')
}

async function waitForStatus(deployment: string, status: string, timeoutMs = 15_000): Promise<void> {
  await page.locator(`[data-deployment="${deployment}"] [data-testid=deployment-status][data-status="${status}"]`).waitFor({ timeout: timeoutMs })
}

describe('the deployments list follows the status stream', () => {
  beforeAll(async () => {
    api = new McpsClient({ baseURL: BASE_URL })
    await api.auth.register({ email: person.email, username: person.username, password: PASSWORD })
    await api.auth.login({ email: person.email, password: PASSWORD })
    await api.tenants.create({ slug, name: 'Harbour' })
    await api.services.create({
      name: service,
      publisher: slug,
      display_name: 'Tide Clock',
      description: 'Time by the tides.',
      category: 'productivity',
      tags: ['time'],
      pricing: { model: 'FREE' },
    })
    await api.services.release(service, {
      version: '1.0.0',
      changelog: 'first',
      runtime: {
        kind: 'process',
        command: 'mcp-server-time',
        package: { registry: 'pypi', name: 'mcp-server-time', version: '2026.10.19' },
        args: ['--local-timezone={{config.timezone}}'],
        env: { API_KEY: '{{config.api_key}}' },
      },
      config_schema: {
        type: 'object',
        properties: {
          timezone: { type: 'string', minLength: 3 },
          api_key: { type: 'string', writeOnly: true },
        },
        required: ['timezone', 'api_key'],
      },
      tools: [{ name: 'get_current_time', input_schema: { type: 'object' } }],
    })
    await api.services.publish(service)
    await api.deployments.create(slug, { name, service, config: { timezone: 'Asia/Tokyo', api_key: 'tide-secret-1' } })

    browser = await openBrowser()
    page = browser.page
    await signIn(page, person.email, `**/u/${person.username}/dashboard`)
  })

  afterAll(async () => {
    await browser?.close()
  })

  it('shows a deployment stopped elsewhere as stopped, without a reload', async () => {
    await page.goto(`/t/${slug}/deployments`)
    // `pending` without a deployer; with one (the whole browser run has it), whatever it reached.
    await page.locator(`[data-deployment="${name}"] [data-testid=deployment-status]`).waitFor()
    await page.locator('[data-testid=status-live]').waitFor()
    await page.evaluate(() => Object.assign(window, { sameDocument: true }))
    // The change must come on the stream: no page of deployments is read again meanwhile.
    const reads: string[] = []
    page.on('request', (request) => {
      const url = new URL(request.url())
      if (url.pathname === `/api/v1/tenants/${slug}/deployments`) reads.push(request.url())
    })
    await api.deployments.stop(slug, name)
    await waitForStatus(name, 'stopped', 30_000)
    expect(reads).toEqual([])
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true)
    expect(await page.locator('[data-testid=status-live]').count()).toBe(1)
    expect(await statusOf(name)).toBe('stopped')
    // And one deployed elsewhere appears.
    await api.deployments.create(slug, { name: 'second', service, config: { timezone: 'UTC', api_key: 'tide-secret-2' } })
    await page.locator('[data-deployment="second"] [data-testid=deployment-status]').waitFor({ timeout: 5_000 })
    expect(reads).toEqual([])
    await screenshot(page, 'deployments-live')
  })

  it('edits the configuration in its dialog: the change shows, the secret is kept', async () => {
    await page.goto(`/t/${slug}/deployments/${name}`)
    await page.locator('[data-testid=config] [data-key=timezone]').waitFor()
    await page.click('[data-testid=action-edit-config]')
    const dialog = page.locator('[data-testid=config-dialog]')
    const timezone = dialog.locator('input[name=timezone]')
    await timezone.waitFor()
    expect(await timezone.inputValue()).toBe('Asia/Tokyo')
    expect(await dialog.locator('input[name=api_key]').inputValue()).toBe('') // never read back
    // The browser's own check first, under the field.
    await timezone.fill('U')
    await dialog.locator('[data-testid=config-submit]').click()
    await dialog.locator('[data-testid="schema-field-timezone"]', { hasText: '3' }).waitFor({ timeout: 5_000 })
    await timezone.fill('Europe/Oslo')
    await screenshot(page, 'deployment-config-edit')
    await dialog.locator('[data-testid=config-submit]').click()
    await dialog.waitFor({ state: 'hidden' })
    await page.locator('[data-testid=config] [data-key=timezone]', { hasText: 'Europe/Oslo' }).waitFor({ timeout: 5_000 })
    expect(await page.locator('[data-testid=config] [data-key=api_key] [data-testid=secret]').count()).toBe(1)

    const read = await api.deployments.retrieve(slug, name)
    expect(read.config).toEqual({ timezone: 'Europe/Oslo', api_key: '********' })
    expect(read.generation).toBe(2)
  })
})
