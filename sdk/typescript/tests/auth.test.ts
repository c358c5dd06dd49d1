import { describe, expect, it } from 'vitest'

import { AuthenticationError, ConflictError, McpsClient, UnprocessableEntityError } from '../src'
import { BASE_URL, PASSWORD, codeIn, lastMailTo, live, signedInPerson, uniqueName } from './support'

describe.skipIf(!live)('client.auth', () => {
  it('registers, verifies the email from the link code, and signs in', async () => {
    const client = new McpsClient({ baseURL: BASE_URL })
    const username = uniqueName('ada')
    const email = `${username}@example.com`
    const registration = await client.auth.register({ email, username, password: PASSWORD })
    expect(registration.username).toBe(username)

    await client.auth.verifyEmail(codeIn(await lastMailTo(email)))
    await client.auth.login({ email, password: PASSWORD })
    const me = await client.me.retrieve()
    expect(me).toMatchObject({ username, email, email_verified: true, personal_tenant: username })
  })

  it('says which field is at fault, with a stable code', async () => {
    const client = new McpsClient({ baseURL: BASE_URL })
    const error = await client.auth
      .register({ email: `${uniqueName('x')}@example.com`, username: 'Bad Name!', password: PASSWORD })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UnprocessableEntityError)
    expect((error as UnprocessableEntityError).field).toBe('username')

    const { email } = await signedInPerson()
    const taken = await client.auth
      .register({ email, username: uniqueName('y'), password: PASSWORD })
      .catch((e: unknown) => e)
    expect(taken).toBeInstanceOf(ConflictError)
    expect((taken as ConflictError).code).toBe('user.email_taken')
  })

  it('rotates the refresh token when the access token is rejected, then goes on', async () => {
    const ended: string[] = []
    const { client: first, email } = await signedInPerson()
    const client = new McpsClient({
      baseURL: BASE_URL,
      session: first.session,
      onSessionEnded: () => ended.push('ended'),
    })
    const before = client.session.load()!
    client.session.save({ ...before, accessToken: 'not-a-valid-token' })

    const me = await client.me.retrieve()
    expect(me.email).toBe(email)
    const after = client.session.load()!
    expect(after.refreshToken).not.toBe(before.refreshToken)
    expect(after.accessToken).not.toBe('not-a-valid-token')
    expect(ended).toEqual([])
  })

  it('refreshes once for concurrent calls, and ends the session when refresh fails', async () => {
    const ended: string[] = []
    const { client: first } = await signedInPerson()
    const client = new McpsClient({
      baseURL: BASE_URL,
      session: first.session,
      onSessionEnded: () => ended.push('ended'),
    })
    const tokens = client.session.load()!
    client.session.save({ ...tokens, accessToken: 'expired' })
    const results = await Promise.all([client.me.retrieve(), client.tenants.list(), client.me.retrieve()])
    expect(results).toHaveLength(3) // one refresh served all three; a second use would end it

    client.session.save({ accessToken: 'expired', refreshToken: 'unknown-refresh-token' })
    const error = await client.me.retrieve().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AuthenticationError)
    expect(client.session.load()).toBeNull()
    expect(ended).toEqual(['ended'])
  })

  it('resets a forgotten password through the emailed code', async () => {
    const { email } = await signedInPerson()
    const client = new McpsClient({ baseURL: BASE_URL })
    await client.auth.requestPasswordReset(email)
    await client.auth.confirmPasswordReset({
      token: codeIn(await lastMailTo(email)),
      password: 'An0ther-secret!',
    })
    await client.auth.login({ email, password: 'An0ther-secret!' })
    expect(client.signedIn).toBe(true)
    await client.auth.logout()
    expect(client.signedIn).toBe(false)
  })
})
