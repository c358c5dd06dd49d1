import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { nextTick } from 'vue'

import { i18n } from '@/i18n'

import { PREFERENCES_KEY, usePreferencesStore } from './preferences'

describe('preferences store', () => {
  beforeEach(() => {
    localStorage.clear()
    setActivePinia(createPinia())
  })

  it('starts in Chinese', async () => {
    const preferences = usePreferencesStore()
    await preferences.ready()
    expect(preferences.locale).toBe('zh-CN')
    expect(i18n.global.locale.value).toBe('zh-CN')
    expect(document.documentElement.lang).toBe('zh-CN')
  })

  it('switches to English, loading its messages, and remembers the choice', async () => {
    const preferences = usePreferencesStore()
    preferences.setLocale('en')
    await nextTick()
    await preferences.ready()
    expect(i18n.global.locale.value).toBe('en')
    expect(i18n.global.t('auth.signIn.title')).toBe('Sign in')
    expect(JSON.parse(localStorage.getItem(PREFERENCES_KEY) ?? '{}').locale).toBe('en')

    setActivePinia(createPinia())
    expect(usePreferencesStore().locale).toBe('en')
  })

  it('toggles the theme, marks the document, and remembers it', async () => {
    const preferences = usePreferencesStore()
    preferences.setTheme('light')
    preferences.toggleTheme()
    await nextTick()
    expect(preferences.isDark).toBe(true)
    expect(document.documentElement.dataset['theme']).toBe('dark')
    expect(JSON.parse(localStorage.getItem(PREFERENCES_KEY) ?? '{}').theme).toBe('dark')
  })

  it('ignores damaged stored preferences', () => {
    localStorage.setItem(PREFERENCES_KEY, '{not json')
    expect(usePreferencesStore().locale).toBe('zh-CN')
    setActivePinia(createPinia())
    localStorage.setItem(PREFERENCES_KEY, JSON.stringify({ locale: 'fr', theme: 'neon' }))
    const preferences = usePreferencesStore()
    expect(preferences.locale).toBe('zh-CN')
    expect(['light', 'dark']).toContain(preferences.theme)
  })
})
