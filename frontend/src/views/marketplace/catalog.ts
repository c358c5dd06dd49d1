/**
 * The marketplace's fixed vocabularies (issue 3) and the search state kept in the URL, so a
 * search can be shared, reloaded and gone back to.
 */
import type { Category, PricingModel, RuntimeKind, ServiceHit, ServiceListParams, ServiceSort } from '@mcps/sdk'
import type { LocationQuery, LocationQueryRaw } from 'vue-router'

export const CATEGORIES: readonly Category[] = [
  'developer-tools',
  'data',
  'search',
  'web',
  'files',
  'productivity',
  'communication',
  'ai',
  'finance',
  'devops',
  'security',
  'other',
]
export const PRICING_MODELS: readonly PricingModel[] = ['FREE', 'FREEMIUM', 'PAID']
export const RUNTIME_KINDS: readonly RuntimeKind[] = ['process', 'docker', 'remote']
export const SORTS: readonly ServiceSort[] = ['relevance', 'rating', 'deployments', 'newest', 'trending']

/** What the search page asks for. */
export interface SearchState {
  q: string
  category: Category | null
  pricing: PricingModel | null
  runtime: RuntimeKind | null
  tags: string[]
  publisher: string | null
  sort: ServiceSort | null
}

export const EMPTY_SEARCH: SearchState = {
  q: '',
  category: null,
  pricing: null,
  runtime: null,
  tags: [],
  publisher: null,
  sort: null,
}

function first(value: LocationQuery[string] | undefined): string | null {
  const text = Array.isArray(value) ? value[0] : value
  return typeof text === 'string' && text !== '' ? text : null
}

function oneOf<T extends string>(allowed: readonly T[], value: string | null): T | null {
  return value !== null && (allowed as readonly string[]).includes(value) ? (value as T) : null
}

/** The search in a URL's query; unknown values are ignored rather than sent. */
export function searchFromQuery(query: LocationQuery): SearchState {
  const tags = first(query['tags'])
  return {
    q: (first(query['q']) ?? '').slice(0, 200),
    category: oneOf(CATEGORIES, first(query['category'])),
    pricing: oneOf(PRICING_MODELS, first(query['pricing'])),
    runtime: oneOf(RUNTIME_KINDS, first(query['runtime'])),
    tags: tags ? [...new Set(tags.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean))] : [],
    publisher: first(query['publisher']),
    sort: oneOf(SORTS, first(query['sort'])),
  }
}

/** The URL query of a search: only what is set. */
export function queryOfSearch(state: SearchState): LocationQueryRaw {
  const query: LocationQueryRaw = {}
  if (state.q.trim()) query['q'] = state.q
  if (state.category) query['category'] = state.category
  if (state.pricing) query['pricing'] = state.pricing
  if (state.runtime) query['runtime'] = state.runtime
  if (state.tags.length) query['tags'] = state.tags.join(',')
  if (state.publisher) query['publisher'] = state.publisher
  if (state.sort) query['sort'] = state.sort
  return query
}

/** The API's parameters for a search; relevance needs words to be relevant to. */
export function paramsOfSearch(state: SearchState, limit = 24): ServiceListParams {
  const q = state.q.trim()
  const sort = state.sort === 'relevance' && !q ? null : state.sort
  return {
    q: q || null,
    category: state.category,
    pricing: state.pricing,
    runtime: state.runtime,
    tags: state.tags.length ? state.tags.join(',') : null,
    publisher: state.publisher,
    sort,
    limit,
  }
}

/** How many filters are on (the words do not count). */
export function activeFilters(state: SearchState): number {
  return [state.category, state.pricing, state.runtime, state.publisher].filter(Boolean).length + state.tags.length
}

/**
 * A one-line summary of a markdown description for a card: the first paragraph that is
 * not a heading, with the markup removed.
 */
export function summaryOf(description: string, max = 160): string {
  const paragraph =
    description
      .split(/\n\s*\n/)
      .map((block) => block.trim())
      .find((block) => block && !block.startsWith('#') && !block.startsWith('```')) ?? ''
  const plain = paragraph
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[*_`>#~]/g, '')
    .replace(/\s+/g, ' ')
    .trim()
  return plain.length > max ? `${plain.slice(0, max - 1)}…` : plain
}

/** The route params of a service's page. */
export function serviceRoute(service: Pick<ServiceHit, 'name'>) {
  return { name: 'marketplace.detail', params: { name: service.name } }
}
