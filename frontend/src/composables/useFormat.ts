/** Dates and numbers in the reader's language. */
import { useI18n } from 'vue-i18n'

export function useFormat() {
  const { locale } = useI18n()

  function dateTime(value: string | Date | null | undefined): string {
    if (!value) return ''
    return new Intl.DateTimeFormat(locale.value, { dateStyle: 'medium', timeStyle: 'short' }).format(
      new Date(value),
    )
  }

  function date(value: string | Date | null | undefined): string {
    if (!value) return ''
    return new Intl.DateTimeFormat(locale.value, { dateStyle: 'medium' }).format(new Date(value))
  }

  /** "3 minutes ago" / "3 分钟前". */
  function relative(value: string | Date, now = Date.now()): string {
    const seconds = Math.round((new Date(value).getTime() - now) / 1000)
    const format = new Intl.RelativeTimeFormat(locale.value, { numeric: 'auto' })
    const steps: [Intl.RelativeTimeFormatUnit, number][] = [
      ['second', 60],
      ['minute', 60],
      ['hour', 24],
      ['day', 30],
      ['month', 12],
    ]
    let amount = seconds
    for (const [unit, size] of steps) {
      if (Math.abs(amount) < size) return format.format(amount, unit)
      amount = Math.round(amount / size)
    }
    return format.format(amount, 'year')
  }

  function number(value: number): string {
    return new Intl.NumberFormat(locale.value).format(value)
  }

  return { dateTime, date, relative, number }
}
