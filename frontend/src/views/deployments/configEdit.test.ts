import { describe, expect, it } from 'vitest'

import { fieldsOf, validate } from '@/composables/useSchemaForm'

import { editableFields, editPayload, editValues, keptSecrets } from './configEdit'

const schema = {
  type: 'object',
  properties: {
    timezone: { type: 'string', minLength: 3 },
    api_key: { type: 'string', writeOnly: true },
    retries: { type: 'integer', default: 2 },
    tags: { type: 'array', items: { type: 'string' } },
    auth: { type: 'object', properties: { token: { type: 'string', format: 'password' }, user: { type: 'string' } } },
  },
  required: ['timezone', 'api_key'],
}
const running = { timezone: 'Asia/Shanghai', api_key: '********', tags: ['a'], auth: { token: '********', user: 'me' } }

describe('editing a deployment’s configuration', () => {
  const fields = fieldsOf(schema)

  it('starts from what runs, secrets empty', () => {
    const values = editValues(fields, running)
    expect(values).toEqual({
      timezone: 'Asia/Shanghai',
      api_key: '',
      retries: 2,
      tags: ['a'],
      auth: { token: '', user: 'me' },
    })
  })

  it('a stored secret left empty is kept: not required, sent back masked', () => {
    expect(keptSecrets(fields, running)).toEqual(['api_key', 'auth.token'])
    const editable = editableFields(fields, running)
    const values = { ...editValues(fields, running), timezone: 'UTC' }
    expect(validate(editable, values)).toEqual([])
    expect(validate(fields, values)).toEqual([{ path: 'api_key', rule: 'required' }])
    expect(editPayload(editable, values, running)).toEqual({
      timezone: 'UTC',
      api_key: '********',
      retries: 2,
      tags: ['a'],
      auth: { token: '********', user: 'me' },
    })
  })

  it('a secret typed in replaces it; one never stored stays required', () => {
    const editable = editableFields(fields, running)
    const values = { ...editValues(fields, running), api_key: 'new-key' }
    expect(editPayload(editable, values, running)).toMatchObject({ api_key: 'new-key', auth: { token: '********' } })
    const unset = { timezone: 'UTC' }
    const fresh = editableFields(fields, unset)
    expect(validate(fresh, editValues(fresh, unset))).toEqual([{ path: 'api_key', rule: 'required' }])
  })
})
