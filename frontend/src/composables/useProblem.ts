/**
 * Errors for people: the problem+json `code` picks a translated message (both locales hold
 * the same table); an unknown code falls back to the server's own `detail`.
 */
import { APIConnectionError, APIError, APITimeoutError } from '@mcps/sdk'
import { shallowRef } from 'vue'
import { useI18n } from 'vue-i18n'

/** Every code the API is known to answer with; each has a message in both locales. */
export const KNOWN_PROBLEM_CODES = [
  'auth.invalid_credentials',
  'auth.token_invalid',
  'auth.unauthenticated',
  'auth.link_invalid',
  'auth.session_required',
  'user.email_taken',
  'user.not_found',
  'tenant.slug_taken',
  'tenant.not_found',
  'tenant.suspended',
  'tenant.role_required',
  'tenant.last_owner',
  'tenant.already_member',
  'tenant.member_not_found',
  'tenant.personal',
  'token.not_found',
  'token.scope_required',
  'invitation.not_found',
  'platform.admin_required',
  'invalid_input',
  'validation_failed',
  'not_found',
  'conflict',
  'concurrent_change',
  'permission_denied',
  'domain.error',
  'read_model.lagging',
  'service.unavailable',
  'service.not_found',
  'service.name_taken',
  'service.permission_denied',
  'service.invalid_state',
  'service.version_not_found',
  'service.version_not_increasing',
  'service.version_yanked',
  'service.introspection_failed',
  'deployment.invalid_config',
  'deployment.name_taken',
  'deployment.replica_limit',
  'deployment.not_deployable',
  'deployment.not_found',
  'deployment.invalid_state',
  'deployment.invalid_autoscaling',
  'gateway.tool_not_found',
  'gateway.invalid_params',
  'gateway.not_callable',
  'gateway.unavailable',
  'gateway.upstream_refused',
  'quota.exceeded',
  'analytics.invalid',
  'analytics.invalid_range',
  'analytics.range_too_large',
  'analytics.unknown_metric',
  'analytics.group_by_not_allowed',
  'runtime.not_allowed',
  'runtime.address_blocked',
  'review.exists',
  'review.moderated',
  'review.not_found',
  'request.bad',
  'request.malformed_json',
  'request.too_large',
  'request.method_not_allowed',
  'request.unsupported_media_type',
  'request.error',
  'rate_limited',
  'internal',
  'http_error',
] as const

/** Codes whose server detail says which rule the input broke: worth showing under the message. */
const INPUT_CODES = new Set(['invalid_input', 'validation_failed'])

/** An error as shown: a translated message, and what else helps (field, detail, request id). */
export interface ShownProblem {
  code: string
  message: string
  detail?: string
  field?: string
  requestID?: string
}

type Translate = (key: string) => string
type Has = (key: string) => boolean

/** Turn anything thrown by an SDK call into something to show. */
export function describeProblem(error: unknown, t: Translate, te: Has): ShownProblem {
  if (error instanceof APIError) {
    const key = `problem.${error.code}`
    const known = te(key)
    return {
      code: error.code,
      message: known ? t(key) : error.detail,
      detail: known && (INPUT_CODES.has(error.code) || error.field) ? error.detail : undefined,
      field: error.field,
      requestID: error.requestID,
    }
  }
  if (error instanceof APITimeoutError) return { code: 'timeout', message: t('problem.timeout') }
  if (error instanceof APIConnectionError) return { code: 'network', message: t('problem.network') }
  const detail = error instanceof Error ? error.message : undefined
  return { code: 'unknown', message: t('problem.unknown'), detail }
}

/** A form's or view's last error, ready for <BaseProblemAlert>, with per-field messages. */
export function useProblem() {
  const { t, te } = useI18n()
  const problem = shallowRef<ShownProblem | null>(null)

  function capture(error: unknown): ShownProblem {
    problem.value = describeProblem(error, t, te)
    return problem.value
  }

  function clear(): void {
    problem.value = null
  }

  /**
   * The message for a form field, when the last problem is about that field: the translated
   * message, then the server's rule (the API words its input rules in English only).
   */
  function fieldMessage(field: string): string | undefined {
    const current = problem.value
    if (!current?.field || current.field !== field) return undefined
    return current.detail && current.detail !== current.message
      ? `${current.message} ${current.detail}`
      : current.message
  }

  return { problem, capture, clear, fieldMessage }
}
