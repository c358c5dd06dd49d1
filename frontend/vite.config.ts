import { fileURLToPath, URL } from 'node:url'

import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vite'

// `npm run dev` proxies the API to a running `./run up` (override with MCPS_API).
const api = process.env['MCPS_API'] ?? 'http://127.0.0.1:8000'

export default defineConfig({
  plugins: [vue()],
  resolve: {
    alias: {
      '@': fileURLToPath(new URL('./src', import.meta.url)),
      // The runtime-only build: src/i18n/compile.ts compiles our (simple) messages.
      'vue-i18n': 'vue-i18n/dist/vue-i18n.runtime.esm-bundler.js',
    },
  },
  define: {
    __VUE_I18N_FULL_INSTALL__: false,
    __VUE_I18N_LEGACY_API__: false,
    __INTLIFY_PROD_DEVTOOLS__: false,
  },
  server: {
    // The SDK package is linked from ../sdk/typescript: let the dev server read it.
    fs: { allow: ['.', '../sdk/typescript'].map((dir) => fileURLToPath(new URL(dir, import.meta.url))) },
    proxy: Object.fromEntries(['/api', '/readyz', '/healthz'].map((path) => [path, api])),
  },
  build: {
    // scripts/budget.mjs reads the manifest to add up what each route loads.
    manifest: true,
    target: 'es2022',
    chunkSizeWarningLimit: 700,
  },
})
