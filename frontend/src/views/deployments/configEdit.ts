/**
 * Editing a running deployment's configuration with the deploy wizard's schema form: the form
 * starts from the configuration the deployment runs with; a secret is never read back (the API
 * shows `********`), so its field starts empty, and left empty it keeps the stored value (sent
 * back as `********`, which the API reads as "keep").
 */
import {
  initialValues,
  toPayload,
  valueAt,
  withValueAt,
  type FormValues,
  type SchemaField,
} from '@/composables/useSchemaForm'

import { SECRET_MASK } from './status'

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The secrets the deployment holds now (their value is masked): their dotted paths. */
export function keptSecrets(fields: SchemaField[], config: Record<string, unknown>): string[] {
  return fields.flatMap((field) => {
    if (field.kind === 'object') return keptSecrets(field.children ?? [], config)
    return field.secret && valueAt(config, field.path) === SECRET_MASK ? [field.path] : []
  })
}

/** The fields, with a stored secret no longer required: left empty, it is kept. */
export function editableFields(fields: SchemaField[], config: Record<string, unknown>): SchemaField[] {
  const kept = new Set(keptSecrets(fields, config))
  const adjust = (list: SchemaField[]): SchemaField[] =>
    list.map((field) => {
      if (field.kind === 'object') return { ...field, children: adjust(field.children ?? []) }
      return kept.has(field.path) ? { ...field, required: false } : field
    })
  return adjust(fields)
}

/** The form's starting values: the schema's defaults, overlaid with what the deployment runs with. */
export function editValues(fields: SchemaField[], config: Record<string, unknown>): FormValues {
  const values = initialValues(fields)
  for (const field of fields) {
    const current = config[field.key]
    if (current === undefined) continue
    if (field.kind === 'object') {
      values[field.key] = editValues(field.children ?? [], isObject(current) ? current : {})
    } else if (field.secret) {
      values[field.key] = '' // never shown; empty means "keep"
    } else if (field.kind === 'json') {
      values[field.key] = JSON.stringify(current, null, 2)
    } else {
      values[field.key] = Array.isArray(current) ? current.map(String) : current
    }
  }
  return values
}

/** The whole configuration to send: what the form holds, and `********` for a secret kept. */
export function editPayload(
  fields: SchemaField[],
  values: FormValues,
  config: Record<string, unknown>,
): FormValues {
  let payload = toPayload(fields, values)
  for (const path of keptSecrets(fields, config)) {
    const typed = valueAt(values, path)
    if (typed === undefined || typed === null || typed === '') payload = withValueAt(payload, path, SECRET_MASK)
  }
  return payload
}
