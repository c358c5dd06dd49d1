import { CursorPage } from '@mcps/sdk'
import { describe, expect, it, vi } from 'vitest'
import { effectScope } from 'vue'

import { useCursorList } from './useCursorList'

/** A fake cursor-paged API over `total` numbered items, `size` per page. */
function pagedApi(total: number, size: number) {
  const calls: (string | null)[] = []
  function page(cursor: string | null): Promise<CursorPage<number>> {
    calls.push(cursor)
    const start = cursor === null ? 0 : Number(cursor)
    const data = Array.from({ length: Math.min(size, total - start) }, (_, i) => start + i)
    const next = start + size < total ? String(start + size) : null
    return Promise.resolve(new CursorPage({ data, next_cursor: next }, (c) => page(c)))
  }
  return { calls, first: () => page(null) }
}

function inScope<T>(make: () => T): T {
  return effectScope().run(make) as T
}

describe('useCursorList', () => {
  it('appends pages until the last one', async () => {
    const api = pagedApi(5, 2)
    const list = inScope(() => useCursorList(api.first))
    await list.reset()
    expect(list.items.value).toEqual([0, 1])
    expect(list.done.value).toBe(false)
    await list.loadMore()
    await list.loadMore()
    expect(list.items.value).toEqual([0, 1, 2, 3, 4])
    expect(list.done.value).toBe(true)
    await list.loadMore()
    expect(api.calls).toEqual([null, '2', '4'])
  })

  it('asks for the next page once however often the end comes into view', async () => {
    const api = pagedApi(10, 2)
    const list = inScope(() => useCursorList(api.first))
    await list.reset()
    await Promise.all([list.loadMore(), list.loadMore(), list.loadMore()])
    expect(api.calls).toEqual([null, '2'])
  })

  it('starts over on reset and drops answers meant for the old filters', async () => {
    let release!: () => void
    const slow = new Promise<void>((resolve) => (release = resolve))
    const first = vi
      .fn<(signal: AbortSignal) => Promise<CursorPage<string>>>()
      .mockImplementationOnce(async () => {
        await slow
        return new CursorPage({ data: ['stale'], next_cursor: null }, vi.fn())
      })
      .mockImplementationOnce(async () => new CursorPage({ data: ['fresh'], next_cursor: null }, vi.fn()))
    const list = inScope(() => useCursorList(first))
    const old = list.reset()
    await list.reset()
    release()
    await old
    expect(list.items.value).toEqual(['fresh'])
  })

  it('keeps the error, and tries again on the next request for more', async () => {
    const first = vi
      .fn<(signal: AbortSignal) => Promise<CursorPage<number>>>()
      .mockRejectedValueOnce(new Error('offline'))
      .mockResolvedValueOnce(new CursorPage({ data: [1], next_cursor: null }, vi.fn()))
    const list = inScope(() => useCursorList(first))
    await list.reset()
    expect((list.error.value as Error).message).toBe('offline')
    await list.loadMore()
    expect(list.items.value).toEqual([1])
    expect(list.error.value).toBeNull()
  })
})
