/**
 * The release form's rules, kept apart from the page so they can be tested: the next
 * version to suggest, and the form's fields turned into the API's `VersionCreateParams`
 * (JSON text parsed, empty runtime fields left out), or the field that is wrong.
 */
import type { RuntimeKind, ServiceVersion, VersionCreateParams } from '@mcps/sdk'

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/

export interface ToolDraft {
  name: string
  description: string
  /** JSON text of the input schema. */
  inputSchema: string
}

export interface ReleaseDraft {
  version: string
  changelog: string
  kind: RuntimeKind
  transport: 'stdio' | 'streamable-http'
  image: string
  port: number | null
  registry: 'pypi' | 'npm'
  packageName: string
  packageVersion: string
  command: string
  args: string[]
  /** `NAME=value` lines. */
  env: string
  url: string
  /** JSON text. */
  configSchema: string
  tools: ToolDraft[]
}

export type ReleaseIssue = { field: string; rule: 'semver' | 'required' | 'json' | 'object' | 'env' }

export function isSemver(value: string): boolean {
  return SEMVER.test(value)
}

/** The patch after the highest released version, or 1.0.0 for the first. */
export function nextVersion(versions: Pick<ServiceVersion, 'version'>[]): string {
  const parsed = versions
    .map((v) => SEMVER.exec(v.version))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [Number(m[1]), Number(m[2]), Number(m[3])] as const)
    .sort((a, b) => b[0] - a[0] || b[1] - a[1] || b[2] - a[2])
  const top = parsed[0]
  return top ? `${top[0]}.${top[1]}.${top[2] + 1}` : '1.0.0'
}

/** A draft to start from: the last release's runtime, schema and tools, the next version. */
export function draftFrom(last: ServiceVersion | null, versions: ServiceVersion[]): ReleaseDraft {
  const runtime = last?.runtime
  return {
    version: nextVersion(versions),
    changelog: '',
    kind: runtime?.kind ?? 'process',
    transport: runtime?.transport ?? 'stdio',
    image: runtime?.image ?? '',
    port: runtime?.port ?? null,
    registry: runtime?.package?.registry ?? 'pypi',
    packageName: runtime?.package?.name ?? '',
    packageVersion: runtime?.package?.version ?? '',
    command: runtime?.command ?? '',
    args: runtime?.args ?? [],
    env: Object.entries(runtime?.env ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
    url: runtime?.url ?? '',
    configSchema: JSON.stringify(last?.config_schema ?? { type: 'object', properties: {} }, null, 2),
    tools: (last?.tools ?? []).map((tool) => ({
      name: tool.name,
      description: tool.description,
      inputSchema: JSON.stringify(tool.input_schema, null, 2),
    })),
  }
}

function parseObject(text: string, field: string, issues: ReleaseIssue[]): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>
    issues.push({ field, rule: 'object' })
  } catch {
    issues.push({ field, rule: 'json' })
  }
  return undefined
}

/** The API body of a draft, or what is wrong with it (fields named as the API names them). */
export function releaseParams(
  draft: ReleaseDraft,
): { params: VersionCreateParams; issues: [] } | { params: null; issues: ReleaseIssue[] } {
  const issues: ReleaseIssue[] = []
  const version = draft.version.trim()
  if (!isSemver(version)) issues.push({ field: 'version', rule: 'semver' })

  const runtime: VersionCreateParams['runtime'] = { kind: draft.kind }
  if (draft.kind === 'remote') {
    runtime.transport = 'streamable-http'
    if (!draft.url.trim()) issues.push({ field: 'runtime.url', rule: 'required' })
    runtime.url = draft.url.trim()
  } else {
    runtime.transport = draft.transport
    if (draft.kind === 'docker') {
      if (!draft.image.trim()) issues.push({ field: 'runtime.image', rule: 'required' })
      runtime.image = draft.image.trim()
      if (draft.transport === 'streamable-http' && draft.port !== null) runtime.port = draft.port
    } else {
      if (draft.packageName.trim()) {
        runtime.package = { registry: draft.registry, name: draft.packageName.trim(), version: draft.packageVersion.trim() }
      }
      if (!draft.command.trim()) issues.push({ field: 'runtime.command', rule: 'required' })
      runtime.command = draft.command.trim()
    }
    if (draft.args.length) runtime.args = [...draft.args]
    const env: Record<string, string> = {}
    for (const line of draft.env.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const at = line.indexOf('=')
      if (at < 1) issues.push({ field: 'runtime.env', rule: 'env' })
      else env[line.slice(0, at).trim()] = line.slice(at + 1)
    }
    if (Object.keys(env).length) runtime.env = env
  }

  const configSchema = parseObject(draft.configSchema || '{}', 'config_schema', issues)
  const tools = draft.tools.map((tool, i) => {
    if (!tool.name.trim()) issues.push({ field: `tools.${i}.name`, rule: 'required' })
    const inputSchema = parseObject(tool.inputSchema || '{"type": "object"}', `tools.${i}.input_schema`, issues)
    return { name: tool.name.trim(), description: tool.description, input_schema: inputSchema ?? {} }
  })

  if (issues.length) return { params: null, issues }
  return {
    params: { version, changelog: draft.changelog, runtime, config_schema: configSchema ?? {}, tools },
    issues: [],
  }
}
