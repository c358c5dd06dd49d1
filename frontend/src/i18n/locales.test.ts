import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

import { describe, expect, it } from 'vitest'

import en from './locales/en.json'
import zhCN from './locales/zh-CN.json'

function keys(node: unknown, prefix = ''): Map<string, string> {
  const found = new Map<string, string>()
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    const path = prefix ? `${prefix}.${key}` : key
    if (typeof value === 'string') found.set(path, value)
    else for (const [k, v] of keys(value, path)) found.set(k, v)
  }
  return found
}

const zh = keys(zhCN)
const english = keys(en)

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return /\.(vue|ts)$/.test(name) && !name.endsWith('.test.ts') ? [path] : []
  })
}

describe('the locales', () => {
  it('have exactly the same keys', () => {
    expect([...zh.keys()].filter((key) => !english.has(key))).toEqual([])
    expect([...english.keys()].filter((key) => !zh.has(key))).toEqual([])
  })

  it('use the same placeholders in both languages, and nothing our compiler lacks', () => {
    for (const [key, text] of english) {
      const placeholders = (value: string) => [...value.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()
      expect(placeholders(zh.get(key) ?? ''), key).toEqual(placeholders(text))
      for (const value of [text, zh.get(key) ?? '']) {
        expect(value.replace(/\{\w+\}/g, ''), key).not.toMatch(/[{}]/)
      }
    }
  })

  it('hold every key the code asks for by name', () => {
    const root = join(__dirname, '..')
    const missing: string[] = []
    for (const file of sourceFiles(root)) {
      const text = readFileSync(file, 'utf8')
      for (const match of text.matchAll(/\bt\(\s*'([\w.]+)'/g)) {
        const key = match[1]!
        if (!zh.has(key)) missing.push(`${file.slice(root.length + 1)}: ${key}`)
      }
    }
    expect(missing).toEqual([])
  })
})
