/**
 * Naive UI's dark theme holds a dark variant of every component: it loads only when the
 * dark theme is chosen, so light-theme visitors never download it.
 */
import type { GlobalTheme } from 'naive-ui'
import { shallowRef } from 'vue'

export const darkTheme = shallowRef<GlobalTheme | null>(null)

export async function ensureDarkTheme(): Promise<void> {
  if (darkTheme.value) return
  darkTheme.value = (await import('./themeDark')).darkTheme
}
