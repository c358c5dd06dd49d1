import type { ServiceVersion } from '@mcps/sdk'
import { describe, expect, it } from 'vitest'

import { draftFrom, isSemver, nextVersion, releaseParams, type ReleaseDraft } from './release'

const LAST: ServiceVersion = {
  version: '1.2.3',
  changelog: 'old',
  runtime: {
    kind: 'process',
    transport: 'stdio',
    package: { registry: 'pypi', name: 'mcp-server-time', version: '2026.10.19' },
    command: 'mcp-server-time',
    args: ['--local-timezone', '{{config.tz}}'],
    env: { LOG: 'info' },
  },
  config_schema: { type: 'object', properties: { tz: { type: 'string' } } },
  tools: [{ name: 'now', description: 'Now', input_schema: { type: 'object' } }],
  yanked: false,
  yank_reason: null,
  released_at: '2026-11-01T00:00:00Z',
  yanked_at: null,
}

describe('versions', () => {
  it('checks semver and suggests the next patch', () => {
    expect(isSemver('1.0.0-beta.1+build.5')).toBe(true)
    expect(isSemver('1.0')).toBe(false)
    expect(isSemver('01.0.0')).toBe(false)
    expect(nextVersion([])).toBe('1.0.0')
    expect(nextVersion([{ version: '1.2.3' }, { version: '1.10.0' }, { version: 'junk' }])).toBe('1.10.1')
  })
})

describe('releaseParams', () => {
  it('carries the last release forward and builds the API body', () => {
    const draft: ReleaseDraft = { ...draftFrom(LAST, [LAST]), changelog: '- faster' }
    expect(draft.version).toBe('1.2.4')
    const { params, issues } = releaseParams(draft)
    expect(issues).toEqual([])
    expect(params).toEqual({
      version: '1.2.4',
      changelog: '- faster',
      runtime: {
        kind: 'process',
        transport: 'stdio',
        package: { registry: 'pypi', name: 'mcp-server-time', version: '2026.10.19' },
        command: 'mcp-server-time',
        args: ['--local-timezone', '{{config.tz}}'],
        env: { LOG: 'info' },
      },
      config_schema: LAST.config_schema,
      tools: [{ name: 'now', description: 'Now', input_schema: { type: 'object' } }],
    })
  })

  it('sends only what a remote or docker runtime needs', () => {
    const remote = releaseParams({ ...draftFrom(null, []), kind: 'remote', url: ' https://mcp.example.com/mcp ' })
    expect(remote.params?.runtime).toEqual({ kind: 'remote', transport: 'streamable-http', url: 'https://mcp.example.com/mcp' })
    const docker = releaseParams({ ...draftFrom(null, []), kind: 'docker', image: 'mcp/time:1.0', transport: 'streamable-http', port: 8080 })
    expect(docker.params?.runtime).toEqual({ kind: 'docker', transport: 'streamable-http', image: 'mcp/time:1.0', port: 8080 })
  })

  it('names every field that is wrong', () => {
    const draft: ReleaseDraft = {
      ...draftFrom(null, []),
      version: 'v1',
      command: '',
      env: 'NOEQUALS',
      configSchema: '[]',
      tools: [{ name: '', description: '', inputSchema: '{' }],
    }
    expect(releaseParams(draft).issues).toEqual([
      { field: 'version', rule: 'semver' },
      { field: 'runtime.command', rule: 'required' },
      { field: 'runtime.env', rule: 'env' },
      { field: 'config_schema', rule: 'object' },
      { field: 'tools.0.name', rule: 'required' },
      { field: 'tools.0.input_schema', rule: 'json' },
    ])
  })
})
