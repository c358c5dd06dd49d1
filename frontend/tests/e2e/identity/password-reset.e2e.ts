/** A forgotten password: ask for a link, open it from the mail, choose a new password. */
import { McpsClient } from '@mcps/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { openBrowser, screenshot, type Browser } from '../support/browser'
import { BASE_URL, PASSWORD } from '../support/env'
import { codeIn, lastMailTo } from '../support/mail'

const person = { username: 'margaret', email: 'margaret@example.com' }
const NEW_PASSWORD = 'Apollo-11-guidance'

describe('password reset in the browser', () => {
  let browser: Browser
  beforeAll(async () => {
    await new McpsClient({ baseURL: BASE_URL }).auth.register({ ...person, password: PASSWORD })
    browser = await openBrowser()
  })
  afterAll(async () => browser?.close())

  it('sends a link, sets the new password from it, and signs in with it', async () => {
    const { page } = browser
    await page.goto('/signin')
    await page.click(`a[href="/reset-password"]`)
    await page.waitForURL('**/reset-password')
    await page.locator('h1', { hasText: '重置密码' }).waitFor()
    await page.fill('input[type=email]', person.email)
    await screenshot(page, 'password-reset-request')
    await page.click('[data-testid=submit]')
    await page.locator('[data-testid=reset-sent]').waitFor()

    const token = codeIn(await lastMailTo(person.email))
    await page.goto(`/reset-password?token=${encodeURIComponent(token)}`)
    await page.waitForURL('**/reset-password/confirm?token=**')
    // The rules of a password come back from the API on the field, translated.
    await page.fill('input[type=password]', 'short')
    await page.click('[data-testid=submit]')
    await page.getByText('部分输入无效。 use 10 to 256 characters').waitFor()
    await page.fill('input[type=password]', NEW_PASSWORD)
    await screenshot(page, 'password-reset-confirm')
    await page.click('[data-testid=submit]')
    await page.locator('[data-testid=reset-done]').waitFor()

    await page.goto('/signin')
    await page.fill('input[name=email]', person.email)
    await page.fill('input[name=password]', NEW_PASSWORD)
    await page.click('[data-testid=submit]')
    await page.waitForURL(`**/u/${person.username}/dashboard`)
    expect(browser.errors).toEqual([])
  })
})
