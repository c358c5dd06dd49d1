/** Copy text, with a `copied` flag that resets after a moment; falls back to execCommand. */
import { ref } from 'vue'

export function useClipboard(resetAfterMs = 2000) {
  const copied = ref(false)
  let timer: ReturnType<typeof setTimeout> | undefined

  async function copy(text: string): Promise<boolean> {
    let ok = false
    try {
      await navigator.clipboard.writeText(text)
      ok = true
    } catch {
      ok = copyWithSelection(text)
    }
    copied.value = ok
    clearTimeout(timer)
    if (ok) timer = setTimeout(() => (copied.value = false), resetAfterMs)
    return ok
  }

  return { copied, copy }
}

function copyWithSelection(text: string): boolean {
  const area = document.createElement('textarea')
  area.value = text
  area.setAttribute('readonly', '')
  area.style.position = 'fixed'
  area.style.opacity = '0'
  document.body.appendChild(area)
  area.select()
  try {
    return document.execCommand('copy')
  } catch {
    return false
  } finally {
    area.remove()
  }
}
