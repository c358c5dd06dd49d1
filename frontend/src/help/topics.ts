/**
 * The help system's topics: one per kind of page, each with what the page is for, the things
 * people do there and the terms it uses. A route names its topic in `meta.help`
 * (`router/index.ts`); a route without one gets the general topic. The texts live in
 * `help/locales/*.json`, loaded on the first opening of the help drawer (`messages.ts`).
 */
import type { RouteLocationNormalizedLoaded } from 'vue-router'

/** Each topic's task and term keys, in the order the drawer shows them. */
export const HELP_TOPICS = {
  general: {
    tasks: ['workspace', 'find', 'call', 'preferences'],
    terms: ['workspace', 'role', 'mcpServer', 'deployment', 'apiToken'],
  },
  dashboard: {
    tasks: ['gettingStarted', 'glance', 'activity', 'switch'],
    terms: ['workspace', 'role', 'spend'],
  },
  marketplace: {
    tasks: ['search', 'filter', 'sort', 'open'],
    terms: ['free', 'paid', 'freemium', 'runtime', 'featured'],
  },
  service: {
    tasks: ['tools', 'config', 'versions', 'reviews', 'deploy'],
    terms: ['tool', 'transport', 'secret', 'deprecated'],
  },
  deploy: {
    tasks: ['target', 'config', 'review', 'after'],
    terms: ['deploymentName', 'replicas', 'secret'],
  },
  deployments: {
    tasks: ['deploy', 'status', 'batch', 'open'],
    terms: ['status', 'replicas', 'runtime'],
  },
  deployment: {
    tasks: ['scale', 'upgrade', 'config', 'logs', 'console'],
    terms: ['replicas', 'health', 'autoscaling', 'rollingUpdate', 'rollback'],
  },
  usage: {
    tasks: ['range', 'group', 'read', 'history'],
    terms: ['p50', 'p95', 'p99', 'errorRate', 'cost'],
  },
  tokens: {
    tasks: ['create', 'copy', 'use', 'revoke'],
    terms: ['scope', 'mcpRead', 'mcpExecute', 'deployWrite', 'billingRead', 'admin', 'prefix'],
  },
  members: {
    tasks: ['invite', 'role', 'remove', 'personal'],
    terms: ['owner', 'admin', 'member', 'viewer', 'invitation'],
  },
  audit: {
    tasks: ['read', 'filter', 'details'],
    terms: ['actor', 'event', 'source'],
  },
  settings: {
    tasks: ['profile', 'password', 'rename', 'preferences'],
    terms: ['displayName', 'slug', 'verified'],
  },
  publisher: {
    tasks: ['draft', 'release', 'publish', 'lifecycle', 'analytics'],
    terms: ['draft', 'version', 'runtime', 'configSchema', 'revenue'],
  },
  publisherForm: {
    tasks: ['name', 'describe', 'price', 'links'],
    terms: ['free', 'paid', 'freemium', 'currency'],
  },
  admin: {
    tasks: ['health', 'tenants', 'featured', 'moderation'],
    terms: ['projection', 'lag', 'suspend', 'operator'],
  },
  teams: {
    tasks: ['create', 'next'],
    terms: ['team', 'slug'],
  },
} as const satisfies Record<string, { tasks: readonly string[]; terms: readonly string[] }>

export type HelpTopic = keyof typeof HELP_TOPICS

/** The topic of any page that has none of its own. */
export const GENERAL_TOPIC: HelpTopic = 'general'

export function isHelpTopic(value: unknown): value is HelpTopic {
  return typeof value === 'string' && Object.hasOwn(HELP_TOPICS, value)
}

/** The help topic of the page in view: its route's `meta.help`, else the general one. */
export function helpTopicOf(route: Pick<RouteLocationNormalizedLoaded, 'meta'>): HelpTopic {
  return isHelpTopic(route.meta.help) ? route.meta.help : GENERAL_TOPIC
}
