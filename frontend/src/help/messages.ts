/**
 * The help topics' texts are long and read rarely: they stay out of the first page's bundle,
 * in a chunk per language loaded with the help drawer's body and merged into i18n under
 * `help.topic`.
 */
type HelpMessages = { topic: Record<string, unknown> }

const loaders: Record<string, () => Promise<{ default: HelpMessages }>> = {
  'zh-CN': () => import('./locales/zh-CN.json'),
  en: () => import('./locales/en.json'),
}

const loading = new Map<string, Promise<void>>()

/**
 * Merge the help texts of `locale` into i18n (with the composer's `mergeLocaleMessage`), once;
 * a failed load may be tried again.
 */
export function loadHelpMessages(
  locale: string,
  merge: (locale: string, messages: { help: HelpMessages }) => void,
): Promise<void> {
  const loader = loaders[locale]
  if (!loader) return Promise.reject(new Error(`no help in ${locale}`))
  let pending = loading.get(locale)
  if (!pending) {
    pending = loader().then(({ default: help }) => merge(locale, { help }))
    pending.catch(() => loading.delete(locale))
    loading.set(locale, pending)
  }
  return pending
}
