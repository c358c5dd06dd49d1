import { afterEach, describe, expect, it, vi } from 'vitest'

import { useClipboard } from './useClipboard'

describe('useClipboard', () => {
  afterEach(() => vi.useRealTimers())

  it('copies, says so for a moment, then resets', async () => {
    vi.useFakeTimers()
    const writeText = vi.fn(async () => {})
    vi.stubGlobal('navigator', { ...navigator, clipboard: { writeText } })
    const { copied, copy } = useClipboard(1000)
    expect(await copy('mcps_secret')).toBe(true)
    expect(writeText).toHaveBeenCalledWith('mcps_secret')
    expect(copied.value).toBe(true)
    vi.advanceTimersByTime(1000)
    expect(copied.value).toBe(false)
    vi.unstubAllGlobals()
  })

  it('falls back to selecting the text when the clipboard API refuses', async () => {
    vi.stubGlobal('navigator', { ...navigator, clipboard: { writeText: () => Promise.reject(new Error('denied')) } })
    const execCommand = vi.fn(() => true)
    document.execCommand = execCommand
    const { copied, copy } = useClipboard()
    expect(await copy('mcps_secret')).toBe(true)
    expect(execCommand).toHaveBeenCalledWith('copy')
    expect(copied.value).toBe(true)
    vi.unstubAllGlobals()
  })
})
