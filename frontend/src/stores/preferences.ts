/** Language and theme: chosen once, remembered in localStorage, applied to the whole app. */
import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'

import { DEFAULT_LOCALE, isLocale, useLocale, type Locale } from '@/i18n'

export type Theme = 'light' | 'dark'

export const PREFERENCES_KEY = 'mcps.preferences'

interface Stored {
  locale?: unknown
  theme?: unknown
}

function read(): Stored {
  try {
    return JSON.parse(localStorage.getItem(PREFERENCES_KEY) ?? '{}') as Stored
  } catch {
    return {}
  }
}

function systemTheme(): Theme {
  return globalThis.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'
}

export const usePreferencesStore = defineStore('preferences', () => {
  const stored = read()
  const locale = ref<Locale>(isLocale(stored.locale) ? stored.locale : DEFAULT_LOCALE)
  const theme = ref<Theme>(stored.theme === 'dark' || stored.theme === 'light' ? stored.theme : systemTheme())
  const isDark = computed(() => theme.value === 'dark')

  function setLocale(value: Locale): void {
    locale.value = value
  }

  function setTheme(value: Theme): void {
    theme.value = value
  }

  function toggleTheme(): void {
    theme.value = isDark.value ? 'light' : 'dark'
  }

  /** Settles once the chosen language's messages are in use (they may have to load). */
  let applied: Promise<void> = Promise.resolve()

  watch(
    [locale, theme],
    ([currentLocale, currentTheme]) => {
      localStorage.setItem(PREFERENCES_KEY, JSON.stringify({ locale: currentLocale, theme: currentTheme }))
      applied = useLocale(currentLocale)
      document.documentElement.dataset['theme'] = currentTheme
      document.documentElement.style.colorScheme = currentTheme // native controls follow
    },
    { immediate: true },
  )

  function ready(): Promise<void> {
    return applied
  }

  return { locale, theme, isDark, setLocale, setTheme, toggleTheme, ready }
})
