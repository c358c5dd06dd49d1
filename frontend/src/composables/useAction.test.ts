import { APIError } from '@mcps/sdk'
import { describe, expect, it, vi } from 'vitest'

const shown = vi.hoisted(() => ({ success: [] as string[], error: [] as string[] }))

vi.mock('naive-ui', () => ({
  useMessage: () => ({
    success: (text: string) => shown.success.push(text),
    error: (text: string) => shown.error.push(text),
  }),
}))
vi.mock('vue-i18n', () => ({
  useI18n: () => ({ t: (key: string) => `[${key}]`, te: (key: string) => key === 'problem.tenant.suspended' }),
}))

const { useAction } = await import('./useAction')

describe('useAction', () => {
  it('marks the item busy while the action runs, then shows its success', async () => {
    const { busy, run } = useAction<string>()
    let during: string | null = null
    const ok = await run('acme', async () => (during = busy.value), 'Suspended acme')
    expect([ok, during, busy.value]).toEqual([true, 'acme', null])
    expect(shown.success).toEqual(['Suspended acme'])
  })

  it('shows a failed action as its problem, translated, and frees the item', async () => {
    const { busy, run } = useAction<string>()
    const refused = APIError.of(
      409,
      { type: 't', title: 'x', status: 409, code: 'tenant.suspended', detail: 'server says so' },
      new Headers(),
    )
    const ok = await run('acme', () => Promise.reject(refused), 'Suspended acme')
    expect([ok, busy.value]).toEqual([false, null])
    expect(shown.error).toEqual(['[problem.tenant.suspended]'])
  })
})
