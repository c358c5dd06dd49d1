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

/** A service as search results and listings show it, with its relevance to `q`. */
export type ServiceHit = Schemas['ServiceHit']
/** A service's page: the listing, publisher, rating histogram and latest release. */
export type Service = Schemas['ServicePublic']
/** A released version: changelog, runtime, config JSON Schema and tools. */
export type ServiceVersion = Schemas['VersionPublic']
/** A tool of a version, with the JSON Schema of its input. */
export type ServiceTool = Schemas['ToolPublic']
/** How a version runs: a docker image, a local process or a remote URL. */
export type ServiceRuntime = Schemas['RuntimePublic']
/** Counts per filter value over every service a search matched. */
export type ServiceFacets = Schemas['Facets']
/** One facet value and how many matched services have it. */
export type FacetCount = Schemas['FacetCount']
/** A category of the fixed taxonomy. */
export type Category = Schemas['Category']
/** A category and its number of listed services. */
export type CategoryCount = Schemas['CategoryCount']
/** FREE, PAID or FREEMIUM. */
export type PricingModel = Schemas['PricingModel']
/** docker, process or remote. */
export type RuntimeKind = Schemas['RuntimeKind']
/** How search results are ordered. */
export type ServiceSort = Schemas['Sort']
/** Search words, filters, sort and paging of `client.services.list`. */
export type ServiceListParams = Omit<
  NonNullable<operations['catalogue-list_services']['parameters']['query']>,
  'wait_for'
>
/** `client.services.create` input: a draft listing. */
export type ServiceCreateParams = Schemas['ServiceCreate']
/** `client.services.update` input: only the fields to change. */
export type ServiceUpdateParams = Schemas['ServiceUpdate']
/** `client.services.release` input: a new version. */
export type VersionCreateParams = Schemas['VersionCreate']
/** `client.services.deprecate` input. */
export type ServiceDeprecateParams = Schemas['Deprecation']
/** `client.services.unpublish` input. */
export type ServiceUnpublishParams = Schemas['Unpublishing']
/** `client.services.yank` input. */
export type VersionYankParams = Schemas['Yank']
/** A review with the "has deployed it" badge. */
export type Review = Schemas['ReviewPublic']
/** `client.reviews.create` and `client.reviews.update` input. */
export type ReviewCreateParams = Schemas['ReviewCreate']
/** Whether the caller may open the operators' console. */
export type AdminAccess = Schemas['AdminAccess']
/** A tenant as operators see it: any tenant, with its member count and status. */
export type AdminTenant = Schemas['AdminTenant']
/** Search, filters and paging of `client.admin.tenants.list`. */
export type AdminTenantListParams = Omit<
  NonNullable<operations['admin-list_all_tenants']['parameters']['query']>,
  'wait_for'
>
/** A visible review of any service; `reviewer_id` is what moderation removes it by. */
export type AdminReview = Schemas['AdminReview']
/** Filters and paging of `client.admin.reviews.list`. */
export type AdminReviewListParams = Omit<
  NonNullable<operations['admin-list_recent_reviews']['parameters']['query']>,
  'wait_for'
>
/** A usage report: series per bucket (and group) plus a summary with the top tools. */
export type AnalyticsReport = Schemas['AnalyticsPublic']
/** What a usage report measures. */
export type AnalyticsMetric = AnalyticsReport['metric']
/** The range, bucket size and grouping of a service's usage report. */
export type ServiceAnalyticsParams = NonNullable<
  operations['analytics-read_service_analytics']['parameters']['query']
>

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

/** A deployment: status, desired vs ready replicas, instances and their health, config without secrets. */
export type Deployment = Schemas['DeploymentPublic']
/** One running instance of a deployment and its health. */
export type DeploymentInstance = Schemas['InstancePublic']
/** A deployment's status, from `pending` to `failed`. */
export type DeploymentStatus = Deployment['status']
/** `client.deployments.create` input. */
export type DeploymentCreateParams = Schemas['DeploymentCreate']
/** `client.deployments.upgrade` input: the version (latest by default) and maybe a new config. */
export type DeploymentUpgradeParams = Schemas['DeploymentUpgrade']
/** Filters and paging of `client.deployments.list`. */
export type DeploymentListParams = Omit<
  NonNullable<operations['deployments-list_deployments']['parameters']['query']>,
  'wait_for'
>
/** `client.deployments.autoscale` input: replicas follow the calls in flight within bounds. */
export type DeploymentAutoscalingParams = Schemas['AutoscalingPolicy']
/** The scaler's last decision on a deployment. */
export type DeploymentAutoscalingDecision = Schemas['AutoscalingDecision']
/** `client.deployments.batch` input: one action on many deployments. */
export type DeploymentBatchAction = Schemas['BatchAction']
/** One result per name of a batch, in order. */
export type DeploymentBatchResult = Schemas['BatchResult']
/** One name's result in a batch. */
export type DeploymentBatchItem = Schemas['BatchItem']
/** One line a deployment's instance wrote. */
export type DeploymentLogLine = Schemas['LogLinePublic']
/** Log lines, oldest first. */
export type DeploymentLogsPage = Schemas['LogsPage']
/** Time range, level, instance and limit of `client.deployments.logs` and `followLogs`. */
export type DeploymentLogsParams = Omit<
  NonNullable<operations['deployment-streams-deployment_logs']['parameters']['query']>,
  'follow'
>
/** Options of `client.deployments.follow` and `followAll`. */
export interface DeploymentFollowOptions {
  /** Resume after this event (its `id`): every change since arrives, none is missed. */
  lastEventId?: string | number
  signal?: AbortSignal
}
/**
 * One change on a deployments stream: the deployment as `retrieve` returns it, or its id and
 * name once deleted. `id` is the log position to resume after.
 */
export type DeploymentEvent =
  | { type: 'deployment'; id: string; deployment: Deployment }
  | { type: 'deleted'; id: string; deployment: { id: string; name: string } }
/** A deployment the gateway can call, with its tools. */
export type CallableServer = Schemas['CallableServer']
/** A tool of a callable server, with the JSON Schema of its input. */
export type CallableTool = Schemas['Method']
/** A deployment as the gateway sees it now: instances, load, circuit breakers. */
export type ServerStatus = Schemas['ServerStatus']
/** `client.mcp.call` input: the tool (`method`) and its arguments (`params`). */
export type ToolCallParams = Schemas['ToolCall']
/** A call's envelope: `success`, `data`, `error`, `duration_ms`, `request_id`, `call_id`. */
export type ToolCallResult = Schemas['CallResult']
/** `client.mcp.batch` input. */
export type ToolCallBatchParams = Schemas['BatchCalls']
/** One result per call of a batch, in order. */
export type ToolCallBatchResult = Schemas['BatchCallResults']
/** Filters and paging of `client.mcp.history`. */
export type CallHistoryParams = NonNullable<operations['gateway-call_history']['parameters']['query']>
/** `client.mcp.callAsync`'s answer: the task to read. */
export type TaskAccepted = Schemas['TaskAccepted']
/** A task: its status and times, and once finished the call's envelope or its problem. */
export type Task = Schemas['TaskPublic']
/** One task of `client.tasks.list`: status and times, no params or answer. */
export type TaskSummary = Schemas['TaskSummary']
/** Filters of `client.tasks.list`. */
export type TaskListParams = Omit<NonNullable<operations['tasks-list_tasks']['parameters']['query']>, 'cursor'>
/** One call of the tenant's history (the API does not declare this shape in its schema). */
export interface CallRecord {
  call_id: string
  deployment: string
  service: string
  version: string
  tool: string
  status: 'ok' | 'tool_error' | 'upstream_error' | 'timeout'
  error_code: string | null
  duration_ms: number
  /** A decimal string, e.g. `0.0025`. */
  cost: string
  currency: string
  occurred_at: string
  /** The API token that made the call; null for a signed-in session. */
  token_id: string | null
}
/** The range, bucket size and grouping of a tenant's usage report. */
export type AnalyticsParams = NonNullable<
  operations['analytics-read_tenant_analytics']['parameters']['query']
>
