import type { RouteLocationRaw } from 'vue-router'

/** One step of the getting-started checklist on the dashboard. */
export interface GettingStartedStep {
  key: 'verify' | 'team' | 'invite' | 'token' | 'deploy'
  done: boolean
  to: RouteLocationRaw
}
