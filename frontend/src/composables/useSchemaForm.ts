/**
 * A form generated from a JSON Schema (a service version's `config_schema`): the fields to
 * show, their starting values, the checks a browser can make before sending, the payload,
 * and the server's 422 `errors` mapped back onto the fields.
 *
 * Covered: string (password when `writeOnly` or `format: password`), number, integer,
 * boolean, enum, array of strings, and nested objects; anything else (arrays of objects,
 * `oneOf`, `$ref`…) is edited as JSON text. Fields are addressed by dotted paths (`auth.token`),
 * the way the API names them after `config.`.
 */
import { APIError } from '@mcps/sdk'
import { computed, ref, shallowRef, type Ref } from 'vue'

export type FieldKind =
  | 'string'
  | 'password'
  | 'number'
  | 'integer'
  | 'boolean'
  | 'enum'
  | 'string-list'
  | 'object'
  | 'json'

export interface SchemaField {
  /** The property name. */
  key: string
  /** The dotted path from the root, e.g. `auth.token`. */
  path: string
  kind: FieldKind
  /** `title`, else the property name. */
  label: string
  description?: string
  required: boolean
  /** A secret: shown as a password field, never echoed by the API. */
  secret: boolean
  default?: unknown
  /** For `enum`. */
  options?: (string | number | boolean)[]
  /** For `string` and `string-list` items. */
  pattern?: string
  minLength?: number
  maxLength?: number
  /** For `number` and `integer`. */
  minimum?: number
  maximum?: number
  exclusiveMinimum?: number
  exclusiveMaximum?: number
  /** For `string-list`. */
  minItems?: number
  maxItems?: number
  /** For `object`. */
  children?: SchemaField[]
}

/** What a check found wrong, to be translated: `rule` names the message, `limit` fills it. */
export interface FieldIssue {
  path: string
  rule:
    | 'required'
    | 'pattern'
    | 'minLength'
    | 'maxLength'
    | 'minimum'
    | 'maximum'
    | 'exclusiveMinimum'
    | 'exclusiveMaximum'
    | 'integer'
    | 'number'
    | 'enum'
    | 'minItems'
    | 'maxItems'
    | 'json'
  limit?: string | number
}

type Schema = Record<string, unknown>
export type FormValues = Record<string, unknown>

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The schema's type, ignoring `null` in a type list (`["string", "null"]` is a string). */
function typeOf(schema: Schema): string | undefined {
  const type = schema['type']
  if (typeof type === 'string') return type
  if (Array.isArray(type)) return type.find((t): t is string => typeof t === 'string' && t !== 'null')
  if (Array.isArray(schema['enum'])) return 'enum'
  if (isObject(schema['properties'])) return 'object'
  return undefined
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

export function isSecret(schema: Schema): boolean {
  return schema['writeOnly'] === true || schema['format'] === 'password'
}

function kindOf(schema: Schema): FieldKind {
  if (Array.isArray(schema['enum']) && schema['enum'].every((v) => ['string', 'number', 'boolean'].includes(typeof v))) {
    return 'enum'
  }
  const type = typeOf(schema)
  if (type === 'string') return isSecret(schema) ? 'password' : 'string'
  if (type === 'number' || type === 'integer' || type === 'boolean') return type
  if (type === 'object' && isObject(schema['properties'])) return 'object'
  if (type === 'array') {
    const items = schema['items']
    if (isObject(items) && typeOf(items) === 'string' && !Array.isArray(items['enum'])) return 'string-list'
  }
  return 'json'
}

/**
 * The fields of an object schema: required ones first, otherwise in the order the schema
 * lists them (which a JSON store may not keep: PostgreSQL's jsonb sorts keys by length).
 */
export function fieldsOf(schema: unknown, prefix = ''): SchemaField[] {
  if (!isObject(schema) || !isObject(schema['properties'])) return []
  const required = new Set(Array.isArray(schema['required']) ? schema['required'].filter((r) => typeof r === 'string') : [])
  const fields = Object.entries(schema['properties']).map(([key, raw]) => {
    const property: Schema = isObject(raw) ? raw : {}
    const path = prefix ? `${prefix}.${key}` : key
    const kind = kindOf(property)
    const items = isObject(property['items']) ? property['items'] : {}
    const field: SchemaField = {
      key,
      path,
      kind,
      label: typeof property['title'] === 'string' && property['title'] ? property['title'] : key,
      required: required.has(key),
      secret: isSecret(property),
    }
    if (typeof property['description'] === 'string') field.description = property['description']
    if ('default' in property) field.default = property['default']
    if (kind === 'enum') field.options = property['enum'] as (string | number | boolean)[]
    const text = kind === 'string-list' ? items : property
    if (typeof text['pattern'] === 'string') field.pattern = text['pattern']
    field.minLength = num(text['minLength'])
    field.maxLength = num(text['maxLength'])
    field.minimum = num(property['minimum'])
    field.maximum = num(property['maximum'])
    field.exclusiveMinimum = num(property['exclusiveMinimum'])
    field.exclusiveMaximum = num(property['exclusiveMaximum'])
    field.minItems = num(property['minItems'])
    field.maxItems = num(property['maxItems'])
    if (kind === 'object') field.children = fieldsOf(property, path)
    for (const name of Object.keys(field) as (keyof SchemaField)[]) {
      if (field[name] === undefined) delete field[name]
    }
    return field
  })
  return [...fields.filter((f) => f.required), ...fields.filter((f) => !f.required)]
}

/** The starting values: each field's default, else empty (objects hold their fields). */
export function initialValues(fields: SchemaField[]): FormValues {
  const values: FormValues = {}
  for (const field of fields) {
    if (field.kind === 'object') {
      values[field.key] = initialValues(field.children ?? [])
      if (isObject(field.default)) Object.assign(values[field.key] as FormValues, field.default)
    } else if (field.kind === 'json') {
      values[field.key] = field.default === undefined ? '' : JSON.stringify(field.default, null, 2)
    } else if (field.kind === 'string-list') {
      values[field.key] = Array.isArray(field.default) ? field.default.map(String) : []
    } else if (field.default !== undefined) {
      values[field.key] = field.default
    } else if (field.kind === 'boolean') {
      values[field.key] = field.required ? false : null // a switch cannot say "unset"
    } else {
      values[field.key] = field.kind === 'string' || field.kind === 'password' ? '' : null
    }
  }
  return values
}

function isEmpty(field: SchemaField, value: unknown): boolean {
  if (value === undefined || value === null) return true
  if (field.kind === 'string-list') return !Array.isArray(value) || value.length === 0
  if (field.kind === 'object') {
    return !isObject(value) || (field.children ?? []).every((child) => isEmpty(child, value[child.key]))
  }
  if (typeof value !== 'string') return false
  // Spaces are a value for a text field, but not for a number or JSON typed as text.
  return field.kind === 'string' || field.kind === 'password' ? value === '' : value.trim() === ''
}

/** JSON Schema patterns are ECMA-262 regular expressions, not anchored. */
function patternOf(source: string): RegExp | null {
  for (const flags of ['u', '']) {
    try {
      return new RegExp(source, flags)
    } catch {
      // try without the unicode flag, whose escapes are stricter
    }
  }
  return null // a pattern the browser cannot read: the server checks it
}

function checkText(field: SchemaField, value: string, path: string, issues: FieldIssue[]): void {
  const length = [...value].length
  const pattern = field.pattern === undefined ? null : patternOf(field.pattern)
  if (field.minLength !== undefined && length < field.minLength) {
    issues.push({ path, rule: 'minLength', limit: field.minLength })
  } else if (field.maxLength !== undefined && length > field.maxLength) {
    issues.push({ path, rule: 'maxLength', limit: field.maxLength })
  } else if (pattern && !pattern.test(value)) {
    issues.push({ path, rule: 'pattern', limit: field.pattern })
  }
}

/**
 * What the browser can tell is wrong before sending: required fields, patterns, lengths and
 * bounds. Fields of an optional object are checked only once something in it is filled in.
 */
export function validate(fields: SchemaField[], values: FormValues): FieldIssue[] {
  const issues: FieldIssue[] = []
  for (const field of fields) {
    const value = values[field.key]
    const { path } = field
    if (isEmpty(field, value)) {
      if (field.required && field.kind !== 'object' && field.kind !== 'boolean') issues.push({ path, rule: 'required' })
      if (field.kind === 'object' && field.required) issues.push(...validate(field.children ?? [], isObject(value) ? value : {}))
      continue
    }
    switch (field.kind) {
      case 'string':
      case 'password':
        checkText(field, String(value), path, issues)
        break
      case 'number':
      case 'integer': {
        const n = typeof value === 'number' ? value : Number(value)
        if (!Number.isFinite(n)) issues.push({ path, rule: 'number' })
        else if (field.kind === 'integer' && !Number.isInteger(n)) issues.push({ path, rule: 'integer' })
        else if (field.minimum !== undefined && n < field.minimum) issues.push({ path, rule: 'minimum', limit: field.minimum })
        else if (field.maximum !== undefined && n > field.maximum) issues.push({ path, rule: 'maximum', limit: field.maximum })
        else if (field.exclusiveMinimum !== undefined && n <= field.exclusiveMinimum) {
          issues.push({ path, rule: 'exclusiveMinimum', limit: field.exclusiveMinimum })
        } else if (field.exclusiveMaximum !== undefined && n >= field.exclusiveMaximum) {
          issues.push({ path, rule: 'exclusiveMaximum', limit: field.exclusiveMaximum })
        }
        break
      }
      case 'enum':
        if (!(field.options ?? []).includes(value as string)) issues.push({ path, rule: 'enum' })
        break
      case 'string-list': {
        const list = value as string[]
        if (field.minItems !== undefined && list.length < field.minItems) issues.push({ path, rule: 'minItems', limit: field.minItems })
        else if (field.maxItems !== undefined && list.length > field.maxItems) issues.push({ path, rule: 'maxItems', limit: field.maxItems })
        else list.forEach((item, i) => checkText(field, item, `${path}.${i}`, issues))
        break
      }
      case 'object':
        issues.push(...validate(field.children ?? [], value as FormValues))
        break
      case 'json':
        try {
          JSON.parse(String(value))
        } catch {
          issues.push({ path, rule: 'json' })
        }
        break
      case 'boolean':
        break
    }
  }
  return issues
}

/**
 * The configuration to send: typed values, empty optional fields left out (so the server's
 * defaults apply), JSON-text fields parsed. Call after {@link validate} found nothing.
 */
export function toPayload(fields: SchemaField[], values: FormValues): FormValues {
  const payload: FormValues = {}
  for (const field of fields) {
    const value = values[field.key]
    if (field.kind === 'object') {
      const inner = toPayload(field.children ?? [], isObject(value) ? value : {})
      if (field.required || Object.keys(inner).length > 0) payload[field.key] = inner
      continue
    }
    if (isEmpty(field, value)) continue
    if (field.kind === 'number' || field.kind === 'integer') payload[field.key] = Number(value)
    else if (field.kind === 'json') payload[field.key] = JSON.parse(String(value))
    else if (field.kind === 'string-list') payload[field.key] = [...(value as string[])]
    else payload[field.key] = value
  }
  return payload
}

const REQUIRED_MESSAGE = /^'([^']+)' is a required property$/
const MESSAGE_PREFIX = /^config(\.[\w.-]+)?: /

/**
 * A 422 from the API mapped onto the form: `config.auth.token` → `auth.token`; a missing
 * property, which jsonschema reports on its parent, goes to the property itself.
 */
export function serverIssues(error: unknown, root = 'config'): Map<string, string> {
  const found = new Map<string, string>()
  if (!(error instanceof APIError) || error.status !== 422) return found
  const reported = error.errors.length ? error.errors : error.field ? [{ field: error.field, message: error.detail }] : []
  for (const { field, message } of reported) {
    if (field !== root && !field.startsWith(`${root}.`)) continue
    let path = field === root ? '' : field.slice(root.length + 1)
    const text = message.replace(MESSAGE_PREFIX, '')
    const missing = REQUIRED_MESSAGE.exec(text)
    if (missing) path = path ? `${path}.${missing[1]}` : missing[1]!
    found.set(path, text)
  }
  return found
}

/** A copy of `values` with `value` at the dotted `path` (the objects on the way are copied). */
export function withValueAt(values: FormValues, path: string, value: unknown): FormValues {
  const [head, ...rest] = path.split('.')
  if (head === undefined) return values
  const inner = values[head]
  return {
    ...values,
    [head]: rest.length ? withValueAt(isObject(inner) ? inner : {}, rest.join('.'), value) : value,
  }
}

/** Read the value at a dotted path. */
export function valueAt(values: FormValues, path: string): unknown {
  return path.split('.').reduce<unknown>((node, part) => (isObject(node) ? node[part] : undefined), values)
}

/**
 * The form of a schema: its fields, the values being edited, the issues to show by path
 * (the browser's own checks as translation keys, the server's as text).
 */
export function useSchemaForm(schema: Ref<unknown>) {
  const fields = computed(() => fieldsOf(schema.value))
  const values = ref<FormValues>(initialValues(fields.value))
  const issues = shallowRef<FieldIssue[]>([])
  const server = shallowRef<Map<string, string>>(new Map())

  /** Start over with the schema's defaults (e.g. another version was chosen). */
  function reset(): void {
    values.value = initialValues(fields.value)
    issues.value = []
    server.value = new Map()
  }

  /** True when the browser found nothing wrong. */
  function check(): boolean {
    server.value = new Map()
    issues.value = validate(fields.value, values.value)
    return issues.value.length === 0
  }

  /** Show a failed submission's field errors; true if any was about this form. */
  function applyServerError(error: unknown): boolean {
    server.value = serverIssues(error)
    return server.value.size > 0
  }

  function payload(): FormValues {
    return toPayload(fields.value, values.value)
  }

  return { fields, values, issues, server, reset, check, applyServerError, payload }
}
