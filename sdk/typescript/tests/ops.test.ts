import { describe, expect, it } from 'vitest'

import { McpsClient } from '../src'
import { BASE_URL, live } from './support'

describe.skipIf(!live)('client.ops', () => {
  it('reports liveness and readiness with every read model position', async () => {
    const client = new McpsClient({ baseURL: BASE_URL })
    expect(await client.ops.health()).toEqual({ status: 'ok' })
    const ready = await client.ops.readiness()
    expect(ready.status).toBe('ready')
    expect(Object.keys(ready.projections)).toContain('audit')
  })
})
