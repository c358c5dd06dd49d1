/** Names for the API's request and response bodies, all derived from the generated schema. */

import type { components, operations } from './schema'

type Schemas = components['schemas']

/** `client.auth.register` input. */
export type UserCreateParams = Schemas['UserCreate']
/** A new user, their personal tenant, and the log position of the registration. */
export type Registration = Schemas['Registered']
/** `client.auth.login` input. */
export type LoginParams = Schemas['LoginRequest']
/** A short-lived access token and the refresh token that rotates it. */
export type TokenPair = Schemas['TokenPair']
/** A command's outcome: the aggregate, its new version, the log position to read after. */
export type CommandAccepted = Schemas['CommandAccepted']
/** The signed-in person and the tenants they belong to. */
export type Me = Schemas['MePublic']
/** One tenant of {@link Me}, with the person's role in it. */
export type Membership = Schemas['Membership']
/** `client.me.update` input. */
export type ProfileUpdateParams = Schemas['ProfileUpdate']
/** `client.me.changePassword` input. */
export type PasswordChangeParams = Schemas['PasswordChange']
/** A personal or team tenant, with the caller's role. */
export type Tenant = Schemas['TenantPublic']
/** `client.tenants.create` input. */
export type TenantCreateParams = Schemas['TenantCreate']
/** `client.tenants.update` input. */
export type TenantUpdateParams = Schemas['TenantUpdate']
/** A member of a tenant. */
export type Member = Schemas['MemberPublic']
/** `client.members.update` input. */
export type MemberUpdateParams = Schemas['MemberUpdate']
/** A role in a tenant, from `viewer` up to `owner`. */
export type Role = Schemas['MemberUpdate']['role']
/** An invitation by email. */
export type Invitation = Schemas['InvitationPublic']
/** `client.invitations.create` input. */
export type InvitationCreateParams = Schemas['InvitationCreate']
/** A new invitation's id and the command outcome. */
export type InvitationIssued = Schemas['InvitationIssued']
/** An API token as listed: never its secret. */
export type ApiToken = Schemas['ApiTokenPublic']
/** `client.tokens.create` input. */
export type ApiTokenCreateParams = Schemas['ApiTokenCreate']
/** A new API token; `token` is the secret, shown this once. */
export type ApiTokenIssued = Schemas['ApiTokenIssued']
/** What an API token may do. */
export type Scope = Schemas['ApiTokenCreate']['scopes'][number]
/** One audit log entry: who did what, when and from where. */
export type AuditEntry = Schemas['AuditEntry']
/** Filters and paging of `client.audit.list`. */
export type AuditListParams = NonNullable<operations['audit-read_audit']['parameters']['query']>

/** Options every read accepts. */
export interface ReadOptions {
  /** Wait until the read model has applied this log position (read your own write). */
  wait_for?: number
  /** Cancels the request. */
  signal?: AbortSignal
}

/** Options every command accepts. */
export interface CommandOptions {
  /** Cancels the request. */
  signal?: AbortSignal
}

/** What `/readyz` answers when the service is ready. */
export interface Readiness {
  status: 'ready'
  /** The position of the last event in the log. */
  head: number
  /** The position each read model has applied. */
  projections: Record<string, number>
}

/** Every scope an API token can carry. */
export const SCOPES: readonly Scope[] = [
  'mcp:execute',
  'mcp:read',
  'deploy:write',
  'billing:read',
  'admin',
]

/** Every role, from the least to the most powerful. */
export const ROLES: readonly Role[] = ['viewer', 'member', 'admin', 'owner']
