import { describe, expect, it, vi } from 'vitest'
import { createMemoryHistory, createRouter, type RouteMeta, type RouteRecordRaw } from 'vue-router'

import en from './locales/en.json'
import zhCN from './locales/zh-CN.json'
import { GENERAL_TOPIC, HELP_TOPICS, helpTopicOf, type HelpTopic } from './topics'

vi.mock('@/api/client', () => ({ client: {}, SESSION_KEY: 'mcps.session', onSessionEnded: () => () => {} }))

const { routes } = await import('@/router')

/** Pages that deliberately show the general topic: outside the app's shell, or about nothing in particular. */
const GENERAL_ROUTES = [
  'home',
  'auth.signin',
  'auth.signup',
  'auth.verify',
  'auth.reset.request',
  'auth.reset.confirm',
  'invitations.accept',
  'errors.notFound',
  'errors.forbidden',
]

/** Each named route with its meta as the router gives it: its parents' merged with its own. */
function named(records: RouteRecordRaw[], parentMeta: RouteMeta = {}): [string, RouteMeta][] {
  return records.flatMap((record) => {
    const meta = { ...parentMeta, ...record.meta }
    const own: [string, RouteMeta][] = typeof record.name === 'string' ? [[record.name, meta]] : []
    return [...own, ...named(record.children ?? [], meta)]
  })
}

const router = createRouter({ history: createMemoryHistory(), routes })
const topicAt = (path: string) => helpTopicOf(router.resolve(path))

describe('the help topic of a page', () => {
  it('is its own for every named route, or deliberately the general one', () => {
    const names = named(routes)
    expect(names.length).toBeGreaterThan(25)
    for (const [name, meta] of names) {
      const topic = helpTopicOf({ meta })
      if (GENERAL_ROUTES.includes(name)) expect(topic, name).toBe(GENERAL_TOPIC)
      else expect(topic, `${name} has no help topic: add meta.help in router/index.ts`).not.toBe(GENERAL_TOPIC)
    }
    expect(GENERAL_ROUTES.filter((name) => !names.some(([known]) => known === name))).toEqual([])
  })

  it.each([
    ['/t/acme/dashboard', 'dashboard'],
    ['/marketplace', 'marketplace'],
    ['/marketplace/time', 'service'],
    ['/marketplace/time/deploy', 'deploy'],
    ['/t/acme/deployments', 'deployments'],
    ['/u/ada/deployments/time-1', 'deployment'],
    ['/t/acme/usage', 'usage'],
    ['/t/acme/tokens', 'tokens'],
    ['/t/acme/members', 'members'],
    ['/t/acme/audit', 'audit'],
    ['/t/acme/settings', 'settings'],
    ['/t/acme/publisher', 'publisher'],
    ['/t/acme/publisher/time', 'publisher'],
    ['/t/acme/publisher/new', 'publisherForm'],
    ['/t/acme/publisher/time/edit', 'publisherForm'],
    ['/admin', 'admin'],
    ['/admin/moderation', 'admin'], // from the admin console's parent route
    ['/teams/new', 'teams'],
    ['/no/such/page', 'general'],
  ] as const)('%s → %s', (path, topic) => {
    expect(topicAt(path)).toBe(topic)
  })

  it('falls back to the general topic for an unknown name in meta', () => {
    expect(helpTopicOf({ meta: { help: 'nonsense' as HelpTopic } })).toBe(GENERAL_TOPIC)
    expect(helpTopicOf({ meta: {} })).toBe(GENERAL_TOPIC)
  })
})

/** The texts' keys, as `topic.tasks.task.title` paths. */
function paths(node: unknown, prefix = ''): string[] {
  return Object.entries(node as Record<string, unknown>).flatMap(([key, value]) =>
    typeof value === 'string' ? [`${prefix}${key}`] : paths(value, `${prefix}${key}.`),
  )
}

describe('the help texts', () => {
  const wanted = Object.entries(HELP_TOPICS)
    .flatMap(([topic, { tasks, terms }]) => [
      `${topic}.title`,
      `${topic}.purpose`,
      ...tasks.flatMap((task) => [`${topic}.tasks.${task}.title`, `${topic}.tasks.${task}.how`]),
      ...terms.flatMap((term) => [`${topic}.terms.${term}.term`, `${topic}.terms.${term}.meaning`]),
    ])
    .sort()

  it.each([
    ['zh-CN', zhCN],
    ['en', en],
  ])('in %s hold each topic’s title, purpose, tasks and terms, and nothing else', (_locale, messages) => {
    expect(paths(messages.topic).sort()).toEqual(wanted)
  })

  it.each([
    ['zh-CN', zhCN],
    ['en', en],
  ])('in %s are all written, with no braces our message compiler would read', (_locale, messages) => {
    const flat = (node: unknown): string[] =>
      Object.values(node as Record<string, unknown>).flatMap((v) => (typeof v === 'string' ? [v] : flat(v)))
    for (const text of flat(messages.topic)) {
      expect(text.trim().length).toBeGreaterThan(0)
      expect(text).not.toMatch(/[{}]/)
    }
  })

  it('cover the 3–5 things people do on each page', () => {
    for (const [topic, { tasks }] of Object.entries(HELP_TOPICS)) {
      if (topic !== 'teams' && topic !== 'audit') expect(tasks.length, topic).toBeGreaterThanOrEqual(4)
      expect(tasks.length, topic).toBeLessThanOrEqual(5)
    }
  })
})
