import { describe, expect, it } from 'vitest'

import { activeFilters, EMPTY_SEARCH, paramsOfSearch, queryOfSearch, searchFromQuery, summaryOf } from './catalog'

describe('the search in the URL', () => {
  it('reads known values and ignores the rest', () => {
    const state = searchFromQuery({
      q: '时间',
      category: 'productivity',
      pricing: 'GRATIS',
      runtime: ['process', 'docker'],
      tags: 'Time, clock,,time',
      sort: 'rating',
    })
    expect(state).toEqual({
      ...EMPTY_SEARCH,
      q: '时间',
      category: 'productivity',
      runtime: 'process',
      tags: ['time', 'clock'],
      sort: 'rating',
    })
  })

  it('writes only what is set, and reads back the same search', () => {
    const state = { ...EMPTY_SEARCH, q: 'fetch', tags: ['web', 'http'], pricing: 'FREE' as const }
    const query = queryOfSearch(state)
    expect(query).toEqual({ q: 'fetch', tags: 'web,http', pricing: 'FREE' })
    expect(searchFromQuery(query as Record<string, string>)).toEqual(state)
    expect(queryOfSearch(EMPTY_SEARCH)).toEqual({})
  })

  it('asks the API for relevance only when there are words', () => {
    expect(paramsOfSearch({ ...EMPTY_SEARCH, sort: 'relevance' }).sort).toBeNull()
    expect(paramsOfSearch({ ...EMPTY_SEARCH, q: ' tim ', sort: 'relevance' })).toMatchObject({ q: 'tim', sort: 'relevance' })
    expect(paramsOfSearch({ ...EMPTY_SEARCH, tags: ['a', 'b'] }, 10)).toMatchObject({ tags: 'a,b', limit: 10, q: null })
  })

  it('counts the filters that are on', () => {
    expect(activeFilters(EMPTY_SEARCH)).toBe(0)
    expect(activeFilters({ ...EMPTY_SEARCH, q: 'x', category: 'ai', tags: ['a', 'b'] })).toBe(3)
  })
})

describe('summaryOf', () => {
  it('takes the first paragraph that is not a heading, without markup', () => {
    const text = '# Time\n\nCurrent **time** and [timezone](https://x.y) conversion.\n\nMore.'
    expect(summaryOf(text)).toBe('Current time and timezone conversion.')
    expect(summaryOf('a'.repeat(200), 10)).toBe('aaaaaaaaa…')
    expect(summaryOf('')).toBe('')
  })
})
