import { createI18n } from 'vue-i18n'

import { compileMessage } from './compile'
import zhCN from './locales/zh-CN.json'

export type MessageSchema = typeof zhCN
export const LOCALES = ['zh-CN', 'en'] as const
export type Locale = (typeof LOCALES)[number]
/** The audience reads Chinese first (issue 6). */
export const DEFAULT_LOCALE: Locale = 'zh-CN'

export function isLocale(value: unknown): value is Locale {
  return LOCALES.includes(value as Locale)
}

export const i18n = createI18n<[MessageSchema], Locale, false>({
  legacy: false,
  locale: DEFAULT_LOCALE,
  fallbackLocale: DEFAULT_LOCALE,
  messages: { 'zh-CN': zhCN } as Record<Locale, MessageSchema>,
  messageCompiler: compileMessage,
  missingWarn: import.meta.env.DEV,
  fallbackWarn: false,
})

/** The default locale ships with the app; others load when first chosen. */
const loaders: Record<Locale, () => Promise<{ default: MessageSchema }>> = {
  'zh-CN': () => Promise.resolve({ default: zhCN }),
  en: () => import('./locales/en.json'),
}

/** Make `locale` the app's language, loading its messages first if needed. */
export async function useLocale(locale: Locale): Promise<void> {
  if (!i18n.global.availableLocales.includes(locale)) {
    i18n.global.setLocaleMessage(locale, (await loaders[locale]()).default)
  }
  i18n.global.locale.value = locale
  document.documentElement.lang = locale
}
