/**
 * How a deployment's status reads, how a change from the status stream lands in a list, and
 * how soon to look again when the pages poll instead (the stream failed): while anything is
 * on its way somewhere (pending, starting, stopping, rolling), every couple of seconds; once
 * everything has settled, rarely.
 */
import type { Deployment, DeploymentEvent, DeploymentInstance, DeploymentStatus } from '@mcps/sdk'

export const STATUSES: DeploymentStatus[] = ['running', 'pending', 'degraded', 'stopped', 'failed']

/** Naive UI tag types per status and per instance health. */
export const STATUS_TYPE = {
  running: 'success',
  pending: 'info',
  degraded: 'warning',
  stopped: 'default',
  failed: 'error',
} as const satisfies Record<DeploymentStatus, string>

export const HEALTH_TYPE = {
  healthy: 'success',
  starting: 'info',
  unhealthy: 'error',
} as const satisfies Record<DeploymentInstance['health'], string>

export const FAST_POLL_MS = 2_000
export const SLOW_POLL_MS = 5_000

/** Whether the deployment is where it was asked to be, with nothing still moving. */
export function isSettled(deployment: Deployment): boolean {
  if (deployment.status === 'failed') return true
  if (deployment.desired === 'stopped') return deployment.status === 'stopped' && deployment.instances.length === 0
  return (
    deployment.status === 'running' &&
    deployment.ready_replicas === deployment.replicas &&
    deployment.instances.length === deployment.replicas &&
    deployment.instances.every((instance) => instance.generation === deployment.generation)
  )
}

/** The next poll's delay for a set of deployments. */
export function pollDelay(deployments: Deployment[] | null | undefined): number {
  if (!deployments) return FAST_POLL_MS
  return deployments.every(isSettled) ? SLOW_POLL_MS : FAST_POLL_MS
}

/**
 * A list (by name) with one change from the stream applied: replaced, added or removed. A row
 * older than the one shown (a stream's opening rows can trail a page read a moment later) is
 * ignored: `updated_at` is its deployment's last event's time, which only moves forward.
 */
export function applyChange(deployments: Deployment[], change: DeploymentEvent): Deployment[] {
  const rest = deployments.filter((d) => d.name !== change.deployment.name)
  if (change.type === 'deleted') return rest
  const shown = deployments.find((d) => d.name === change.deployment.name)
  if (shown && Date.parse(shown.updated_at) > Date.parse(change.deployment.updated_at)) return deployments
  return [...rest, change.deployment].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

/** Deployments per status, every status present (zero when none). */
export function countByStatus(deployments: Deployment[]): Record<DeploymentStatus, number> {
  const counts = Object.fromEntries(STATUSES.map((status) => [status, 0])) as Record<DeploymentStatus, number>
  for (const deployment of deployments) counts[deployment.status] += 1
  return counts
}

/** The secret placeholder the API puts where a secret's value would be. */
export const SECRET_MASK = '********'

/** A config value as text, secrets never shown (the API masks them; so does this). */
export function configText(value: unknown): { text: string; secret: boolean } {
  if (value === SECRET_MASK) return { text: '••••••••', secret: true }
  if (typeof value === 'string') return { text: value, secret: false }
  return { text: JSON.stringify(value), secret: false }
}

/** `1d 2h`, `3h 4m`, `5m 6s`, `7s`: an instance's uptime. */
export function uptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds))
  const d = Math.floor(s / 86_400)
  const h = Math.floor((s % 86_400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  if (d) return `${d}d ${h}h`
  if (h) return `${h}h ${m}m`
  if (m) return `${m}m ${s % 60}s`
  return `${s}s`
}
