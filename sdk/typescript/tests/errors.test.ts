import { describe, expect, it } from 'vitest'

import {
  APIError,
  ConflictError,
  InternalServerError,
  McpsError,
  NotFoundError,
  UnprocessableEntityError,
} from '../src'
import { backoff, McpsClient, retryDelay } from '../src/client'

describe('APIError.of', () => {
  it('picks the class by status and keeps the problem fields', () => {
    const error = APIError.of(
      409,
      {
        type: 'https://mcps.one/problems/tenant.slug_taken',
        title: 'Conflict',
        status: 409,
        code: 'tenant.slug_taken',
        detail: 'that slug is taken',
        field: 'slug',
        request_id: 'r-1',
      },
      new Headers(),
    )
    expect(error).toBeInstanceOf(ConflictError)
    expect(error).toBeInstanceOf(McpsError)
    expect(error).toMatchObject({
      status: 409,
      code: 'tenant.slug_taken',
      detail: 'that slug is taken',
      field: 'slug',
      requestID: 'r-1',
    })
  })

  it('carries every offending field of a validation problem', () => {
    const error = APIError.of(
      422,
      {
        type: 't',
        title: 'Unprocessable',
        status: 422,
        code: 'validation_failed',
        errors: [{ field: 'email', message: 'not an email' }],
      },
      new Headers(),
    )
    expect(error).toBeInstanceOf(UnprocessableEntityError)
    expect(error.errors).toEqual([{ field: 'email', message: 'not an email' }])
  })

  it('survives a body that is not a problem', () => {
    const error = APIError.of(502, '<html>bad gateway</html>', new Headers({ 'x-request-id': 'q' }))
    expect(error).toBeInstanceOf(InternalServerError)
    expect(error.code).toBe('http_error')
    expect(error.detail).toContain('bad gateway')
    expect(error.requestID).toBe('q')
  })

  it('keeps unknown client errors as plain APIError', () => {
    const error = APIError.of(418, undefined, new Headers())
    expect(error.constructor).toBe(APIError)
    expect(error).not.toBeInstanceOf(NotFoundError)
  })
})

describe('retry timing', () => {
  it('follows Retry-After, capped at ten seconds', () => {
    const at = (value: string) => retryDelay(new Response(null, { headers: { 'retry-after': value } }), 0)
    expect(at('1')).toBe(1000)
    expect(at('3600')).toBe(10_000)
  })

  it('backs off exponentially with jitter below the cap', () => {
    for (const [attempt, max] of [[0, 500], [1, 1000], [2, 2000], [10, 8000]] as const) {
      const delay = backoff(attempt)
      expect(delay).toBeLessThanOrEqual(max)
      expect(delay).toBeGreaterThanOrEqual(max * 0.75)
    }
  })
})

describe('a path parameter left out', () => {
  it('is refused before any request is sent', async () => {
    const sent: string[] = []
    const client = new McpsClient({
      baseURL: 'http://127.0.0.1:9',
      fetch: async (request) => {
        sent.push(request.url)
        return new Response('{"data": []}', { headers: { 'content-type': 'application/json' } })
      },
    })
    const slug = undefined as unknown as string
    await expect(client.tokens.list(slug)).rejects.toThrow('a path parameter is missing: /api/v1/tenants/{slug}/tokens')
    expect(sent).toEqual([])
    await client.tokens.list('acme')
    expect(sent).toEqual(['http://127.0.0.1:9/api/v1/tenants/acme/tokens'])
  })
})
