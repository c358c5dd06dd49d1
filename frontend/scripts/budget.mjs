#!/usr/bin/env node
// The first-route JavaScript budget of issue 6: for every route, the gzip size of the JS a
// browser must load to render it when it is the first page opened (the entry chunk, the
// route's lazy view chunk, and everything they import statically). Lazy extras (the ECharts
// chunk) are listed separately. Reads Vite's manifest; exits 1 when a route is over budget.
//   node scripts/budget.mjs [--json FILE]
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'

const BUDGET_KB = 250
const dist = new URL('../dist/', import.meta.url).pathname
const manifest = JSON.parse(readFileSync(join(dist, '.vite/manifest.json'), 'utf8'))

const gzipKB = new Map()
function sizeOf(file) {
  if (!gzipKB.has(file)) gzipKB.set(file, gzipSync(readFileSync(join(dist, file)), { level: 9 }).length / 1024)
  return gzipKB.get(file)
}

/** The files a chunk pulls in before it runs: itself and its static imports, transitively. */
function closure(key, seen = new Set()) {
  const chunk = manifest[key]
  if (!chunk || seen.has(chunk.file)) return seen
  seen.add(chunk.file)
  for (const imported of chunk.imports ?? []) closure(imported, seen)
  return seen
}

const entryKey = Object.keys(manifest).find((key) => manifest[key].isEntry)
const entry = closure(entryKey)
const views = Object.keys(manifest).filter((key) => /src\/views\/.*View\.vue$/.test(key))

// Each page renders inside a layout route (src/router/index.ts) that loads with it.
const AUTH_LAYOUT = 'src/components/TheAuthLayout.vue'
const APP_LAYOUT = 'src/components/TheAppShell.vue'
const inAuthLayout = (key) => /views\/(auth|invitations)\/|NotFoundView/.test(key)

const rows = views.map((key) => {
  const files = closure(key, closure(inAuthLayout(key) ? AUTH_LAYOUT : APP_LAYOUT, new Set(entry)))
  // What the page imports lazily once rendered (e.g. the chart and ECharts behind it).
  const lazy = new Set()
  const pending = [...(manifest[key].dynamicImports ?? [])]
  const visited = new Set()
  while (pending.length) {
    const dynamic = pending.pop()
    if (visited.has(dynamic)) continue
    visited.add(dynamic)
    for (const file of closure(dynamic, new Set())) if (!files.has(file)) lazy.add(file)
    for (const chunkKey of Object.keys(manifest)) {
      if (lazy.has(manifest[chunkKey].file)) pending.push(...(manifest[chunkKey].dynamicImports ?? []))
    }
  }
  const js = [...files].filter((f) => f.endsWith('.js'))
  const lazyJs = [...lazy].filter((f) => f.endsWith('.js'))
  return {
    route: key.replace(/^src\/views\//, '').replace(/\.vue$/, ''),
    firstRouteKB: js.reduce((sum, f) => sum + sizeOf(f), 0),
    lazyKB: lazyJs.reduce((sum, f) => sum + sizeOf(f), 0),
  }
})
rows.sort((a, b) => b.firstRouteKB - a.firstRouteKB)

const entryKB = [...entry].filter((f) => f.endsWith('.js')).reduce((sum, f) => sum + sizeOf(f), 0)
const totalKB = Object.values(manifest)
  .map((chunk) => chunk.file)
  .filter((f, i, all) => f.endsWith('.js') && all.indexOf(f) === i)
  .reduce((sum, f) => sum + sizeOf(f), 0)

const fmt = (kb) => kb.toFixed(1).padStart(7)
console.log(`first-route JavaScript, gzip (budget ${BUDGET_KB} KB); entry alone ${entryKB.toFixed(1)} KB, all chunks ${totalKB.toFixed(1)} KB`)
console.log('  KB first route | KB lazy after render | route')
for (const row of rows) console.log(`  ${fmt(row.firstRouteKB)}        | ${fmt(row.lazyKB)}              | ${row.route}`)

const jsonAt = process.argv.indexOf('--json')
if (jsonAt > 0) {
  const out = process.argv[jsonAt + 1]
  writeFileSync(out, JSON.stringify({ budgetKB: BUDGET_KB, entryKB, totalKB, routes: rows }, null, 2) + '\n')
}
const over = rows.filter((row) => row.firstRouteKB > BUDGET_KB)
if (over.length) {
  console.error(`over budget: ${over.map((r) => `${r.route} ${r.firstRouteKB.toFixed(1)} KB`).join(', ')}`)
  process.exit(1)
}
