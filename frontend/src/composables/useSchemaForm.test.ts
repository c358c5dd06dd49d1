import { APIError } from '@mcps/sdk'
import { describe, expect, it } from 'vitest'
import { effectScope, ref } from 'vue'

import {
  fieldsOf,
  initialValues,
  serverIssues,
  toPayload,
  useSchemaForm,
  validate,
  valueAt,
  withValueAt,
} from './useSchemaForm'

/** A config schema with every kind the form supports, like a real service's. */
const SCHEMA = {
  type: 'object',
  required: ['api_key', 'region'],
  properties: {
    api_key: { type: 'string', writeOnly: true, title: 'API key', pattern: '^sk-[a-z0-9]+$' },
    password: { type: 'string', format: 'password' },
    region: { type: 'string', enum: ['cn-north', 'us-east'], default: 'cn-north' },
    timeout: { type: 'integer', minimum: 1, maximum: 60, default: 10 },
    ratio: { type: ['number', 'null'], exclusiveMinimum: 0 },
    verbose: { type: 'boolean', description: 'Log every call' },
    roots: { type: 'array', items: { type: 'string', pattern: '^/' }, maxItems: 3 },
    proxy: {
      type: 'object',
      required: ['host'],
      properties: { host: { type: 'string', minLength: 3 }, port: { type: 'integer' } },
    },
    extra: { type: 'array', items: { type: 'object' } },
  },
}

function problem422(errors: { field: string; message: string }[]): APIError {
  const first = errors[0]!
  return APIError.of(
    422,
    { type: 't', title: 'x', status: 422, code: 'deployment.invalid_config', detail: first.message, field: first.field, errors },
    new Headers(),
  )
}

describe('fieldsOf', () => {
  it('turns each property into a field of the right kind, required ones first', () => {
    const fields = fieldsOf(SCHEMA)
    expect(fields.map((f) => [f.path, f.kind, f.required, f.secret])).toEqual([
      ['api_key', 'password', true, true],
      ['region', 'enum', true, false],
      ['password', 'password', false, true],
      ['timeout', 'integer', false, false],
      ['ratio', 'number', false, false],
      ['verbose', 'boolean', false, false],
      ['roots', 'string-list', false, false],
      ['proxy', 'object', false, false],
      ['extra', 'json', false, false],
    ])
    expect(fields[0]).toMatchObject({ label: 'API key', pattern: '^sk-[a-z0-9]+$' })
    expect(fields[1]?.options).toEqual(['cn-north', 'us-east'])
    expect(fields[7]?.children?.map((c) => [c.path, c.required])).toEqual([
      ['proxy.host', true],
      ['proxy.port', false],
    ])
  })

  it('has no fields for a schema without properties, or no schema', () => {
    expect(fieldsOf({ type: 'object' })).toEqual([])
    expect(fieldsOf(undefined)).toEqual([])
    expect(fieldsOf({ type: 'object', properties: { x: {} } })[0]?.kind).toBe('json')
  })
})

describe('initialValues', () => {
  it('starts from the defaults, with empty values elsewhere', () => {
    expect(initialValues(fieldsOf(SCHEMA))).toEqual({
      api_key: '',
      password: '',
      region: 'cn-north',
      timeout: 10,
      ratio: null,
      verbose: null,
      roots: [],
      proxy: { host: '', port: null },
      extra: '',
    })
  })
})

describe('validate', () => {
  const fields = fieldsOf(SCHEMA)
  const valid = () => ({ ...initialValues(fields), api_key: 'sk-abc1' })

  it('passes a filled-in form', () => {
    expect(validate(fields, valid())).toEqual([])
  })

  it('reports required fields, patterns and bounds by path', () => {
    const values = { ...valid(), api_key: '', timeout: 61, ratio: 0, roots: ['/ok', 'relative'] }
    expect(validate(fields, values)).toEqual([
      { path: 'api_key', rule: 'required' },
      { path: 'timeout', rule: 'maximum', limit: 60 },
      { path: 'ratio', rule: 'exclusiveMinimum', limit: 0 },
      { path: 'roots.1', rule: 'pattern', limit: '^/' },
    ])
    expect(validate(fields, { ...valid(), api_key: 'nope', timeout: 0 })).toEqual([
      { path: 'api_key', rule: 'pattern', limit: '^sk-[a-z0-9]+$' },
      { path: 'timeout', rule: 'minimum', limit: 1 },
    ])
    expect(validate(fields, { ...valid(), timeout: 2.5, roots: ['/a', '/b', '/c', '/d'] })).toEqual([
      { path: 'timeout', rule: 'integer' },
      { path: 'roots', rule: 'maxItems', limit: 3 },
    ])
  })

  it("checks an optional object's fields only once something in it is filled in", () => {
    expect(validate(fields, { ...valid(), proxy: { host: '', port: 8080 } })).toEqual([
      { path: 'proxy.host', rule: 'required' },
    ])
    expect(validate(fields, { ...valid(), proxy: { host: 'ab', port: null } })).toEqual([
      { path: 'proxy.host', rule: 'minLength', limit: 3 },
    ])
  })

  it('refuses a value outside the enum and JSON text that does not parse', () => {
    expect(validate(fields, { ...valid(), region: 'mars', extra: '[{' })).toEqual([
      { path: 'region', rule: 'enum' },
      { path: 'extra', rule: 'json' },
    ])
  })

  it('leaves a pattern the browser cannot compile to the server', () => {
    const odd = fieldsOf({ type: 'object', properties: { x: { type: 'string', pattern: '(?<' } } })
    expect(validate(odd, { x: 'anything' })).toEqual([])
  })
})

describe('toPayload', () => {
  it('sends typed values and leaves empty optional ones out', () => {
    const fields = fieldsOf(SCHEMA)
    const values = {
      ...initialValues(fields),
      api_key: 'sk-abc1',
      verbose: true,
      roots: ['/data'],
      proxy: { host: 'proxy.local', port: 3128 },
      extra: '[{"a": 1}]',
    }
    expect(toPayload(fields, values)).toEqual({
      api_key: 'sk-abc1',
      region: 'cn-north',
      timeout: 10,
      verbose: true,
      roots: ['/data'],
      proxy: { host: 'proxy.local', port: 3128 },
      extra: [{ a: 1 }],
    })
  })
})

describe('serverIssues', () => {
  it("maps the API's config errors onto field paths", () => {
    const issues = serverIssues(
      problem422([
        { field: 'config.proxy.port', message: "config.proxy.port: 'x' is not of type 'integer'" },
        { field: 'config', message: "config: 'api_key' is a required property" },
        { field: 'name', message: 'name is taken' },
      ]),
    )
    expect([...issues]).toEqual([
      ['proxy.port', "'x' is not of type 'integer'"],
      ['api_key', "'api_key' is a required property"],
    ])
  })

  it('ignores anything that is not a 422', () => {
    expect(serverIssues(new Error('boom')).size).toBe(0)
  })
})

describe('withValueAt and valueAt', () => {
  it('set and read nested values without changing the original', () => {
    const before = { proxy: { host: 'a', port: 1 }, name: 'x' }
    const after = withValueAt(before, 'proxy.host', 'b')
    expect(after).toEqual({ proxy: { host: 'b', port: 1 }, name: 'x' })
    expect(before.proxy.host).toBe('a')
    expect(valueAt(after, 'proxy.host')).toBe('b')
    expect(valueAt(after, 'missing.deep')).toBeUndefined()
    expect(withValueAt({}, 'a.b', 1)).toEqual({ a: { b: 1 } })
  })
})

describe('useSchemaForm', () => {
  it('checks, builds the payload, shows server errors and resets on a new schema', () => {
    const schema = ref<unknown>(SCHEMA)
    const form = effectScope().run(() => useSchemaForm(schema))!
    expect(form.check()).toBe(false)
    expect(form.issues.value.map((i) => i.path)).toEqual(['api_key'])
    form.values.value['api_key'] = 'sk-1'
    expect(form.check()).toBe(true)
    expect(form.payload()).toMatchObject({ api_key: 'sk-1', region: 'cn-north' })
    expect(form.applyServerError(problem422([{ field: 'config.api_key', message: 'config.api_key: rejected' }]))).toBe(true)
    expect(form.server.value.get('api_key')).toBe('rejected')

    schema.value = { type: 'object', properties: { only: { type: 'string', default: 'x' } } }
    form.reset()
    expect(form.values.value).toEqual({ only: 'x' })
    expect(form.server.value.size).toBe(0)
  })
})
