import { createPinia } from 'pinia'
import { createApp } from 'vue'

import App from './App.vue'
import { i18n } from './i18n'
import { createAppRouter } from './router'
import { usePreferencesStore } from './stores/preferences'
import { ensureDarkTheme } from './theme'
import './styles.css'

const app = createApp(App)
app.use(createPinia())
app.use(i18n)
app.use(createAppRouter())
// Neither a dark-theme nor an English reader should see the page flash before it settles.
const preferences = usePreferencesStore()
await Promise.all([preferences.ready(), preferences.isDark ? ensureDarkTheme() : null])
app.mount('#app')
