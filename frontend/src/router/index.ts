/**
 * Routes: public pages for signing up and in; a workspace's pages under `/u/:slug` (the
 * personal one) and `/t/:slug` (teams), each guarded by the caller's role there.
 */
import type { Role } from '@mcps/sdk'
import {
  createRouter,
  createWebHistory,
  START_LOCATION,
  type RouteLocationRaw,
  type RouteRecordRaw,
} from 'vue-router'

import { markNavigationStart } from '@/composables/usePageTiming'
import type { HelpTopic } from '@/help/topics'
import { useAdminStore } from '@/stores/admin'
import { roleAtLeast, useSessionStore } from '@/stores/session'
import { useTenantStore } from '@/stores/tenant'

declare module 'vue-router' {
  interface RouteMeta {
    /** Reachable without signing in. */
    public?: boolean
    /** Only for people who are not signed in (sign-in, sign-up). */
    guestOnly?: boolean
    /** The least role in the route's workspace that may open it. */
    minRole?: Role
    /** The key of the page title. */
    title?: string
    /** Outside any workspace, but the menu keeps the one in view (the marketplace). */
    keepWorkspace?: boolean
    /** Only for platform operators (the admin console's operator pages). */
    platformAdmin?: boolean
    /** The help drawer's topic for the page (`help/topics.ts`); the general one if none. */
    help?: HelpTopic
  }
}

const tenantRoutes: RouteRecordRaw[] = [
  { path: '', redirect: (to) => ({ name: 'dashboard.home', params: to.params }) },
  {
    path: 'dashboard',
    name: 'dashboard.home',
    component: () => import('@/views/dashboard/DashboardView.vue'),
    meta: { minRole: 'viewer', title: 'nav.dashboard', help: 'dashboard' },
  },
  {
    path: 'deployments',
    name: 'deployments.list',
    component: () => import('@/views/deployments/DeploymentListView.vue'),
    meta: { minRole: 'viewer', title: 'nav.deployments', help: 'deployments' },
  },
  {
    path: 'deployments/:name',
    name: 'deployments.detail',
    component: () => import('@/views/deployments/DeploymentDetailView.vue'),
    meta: { minRole: 'viewer', title: 'deployments.detailTitle', help: 'deployment' },
  },
  {
    path: 'usage',
    name: 'usage',
    component: () => import('@/views/usage/UsageView.vue'),
    meta: { minRole: 'viewer', title: 'nav.usage', help: 'usage' },
  },
  {
    path: 'tokens',
    name: 'tokens.list',
    component: () => import('@/views/tokens/TokenListView.vue'),
    meta: { minRole: 'member', title: 'nav.tokens', help: 'tokens' },
  },
  {
    path: 'members',
    name: 'members.list',
    component: () => import('@/views/members/MemberListView.vue'),
    meta: { minRole: 'viewer', title: 'nav.members', help: 'members' },
  },
  {
    path: 'audit',
    name: 'audit.list',
    component: () => import('@/views/audit/AuditListView.vue'),
    meta: { minRole: 'admin', title: 'nav.audit', help: 'audit' },
  },
  {
    path: 'publisher',
    name: 'publisher.list',
    component: () => import('@/views/publisher/ServiceListView.vue'),
    meta: { minRole: 'viewer', title: 'publisher.title', help: 'publisher' },
  },
  {
    path: 'publisher/new',
    name: 'publisher.create',
    component: () => import('@/views/publisher/ServiceFormView.vue'),
    meta: { minRole: 'admin', title: 'publisher.create.title', help: 'publisherForm' },
  },
  {
    path: 'publisher/:name',
    name: 'publisher.detail',
    component: () => import('@/views/publisher/ServiceDetailView.vue'),
    meta: { minRole: 'viewer', title: 'publisher.detail.title', help: 'publisher' },
  },
  {
    path: 'publisher/:name/edit',
    name: 'publisher.edit',
    component: () => import('@/views/publisher/ServiceFormView.vue'),
    meta: { minRole: 'admin', title: 'publisher.form.edit', help: 'publisherForm' },
  },
  {
    path: 'settings',
    name: 'settings.edit',
    component: () => import('@/views/settings/SettingsView.vue'),
    meta: { minRole: 'viewer', title: 'nav.settings', help: 'settings' },
  },
]

const authRoutes: RouteRecordRaw[] = [
  {
    path: 'signin',
    name: 'auth.signin',
    component: () => import('@/views/auth/SignInView.vue'),
    meta: { public: true, guestOnly: true, title: 'auth.signIn.title' },
  },
  {
    path: 'signup',
    name: 'auth.signup',
    component: () => import('@/views/auth/SignUpView.vue'),
    meta: { public: true, guestOnly: true, title: 'auth.signUp.title' },
  },
  {
    path: 'verify-email',
    name: 'auth.verify',
    component: () => import('@/views/auth/VerifyEmailView.vue'),
    meta: { public: true, title: 'auth.verify.title' },
  },
  {
    path: 'reset-password',
    name: 'auth.reset.request',
    component: () => import('@/views/auth/PasswordResetRequestView.vue'),
    meta: { public: true, title: 'auth.reset.title' },
    // The emailed link carries the token: that is the confirm step.
    beforeEnter: (to) =>
      typeof to.query['token'] === 'string' ? { name: 'auth.reset.confirm', query: to.query } : true,
  },
  {
    path: 'reset-password/confirm',
    name: 'auth.reset.confirm',
    component: () => import('@/views/auth/PasswordResetConfirmView.vue'),
    meta: { public: true, title: 'auth.reset.confirmTitle' },
  },
  {
    path: 'invitations/accept',
    name: 'invitations.accept',
    component: () => import('@/views/invitations/InvitationAcceptView.vue'),
    meta: { title: 'invitations.accept.title' },
  },
  {
    path: ':pathMatch(.*)*',
    name: 'errors.notFound',
    component: () => import('@/views/errors/NotFoundView.vue'),
    meta: { public: true, title: 'errors.notFoundTitle' },
  },
]

const appRoutes: RouteRecordRaw[] = [
  { path: '', name: 'home', component: { render: () => null } },
  {
    path: 'marketplace',
    name: 'marketplace.list',
    component: () => import('@/views/marketplace/ServiceListView.vue'),
    meta: { public: true, keepWorkspace: true, title: 'marketplace.title', help: 'marketplace' },
  },
  {
    path: 'marketplace/:name',
    name: 'marketplace.detail',
    component: () => import('@/views/marketplace/ServiceDetailView.vue'),
    meta: { public: true, keepWorkspace: true, title: 'marketplace.detail.title', help: 'service' },
  },
  {
    path: 'marketplace/:name/deploy',
    name: 'marketplace.deploy',
    component: () => import('@/views/marketplace/ServiceDeployView.vue'),
    meta: { keepWorkspace: true, title: 'marketplace.deploy.action', help: 'deploy' },
  },
  {
    path: 'teams/new',
    name: 'teams.create',
    component: () => import('@/views/teams/TeamCreateView.vue'),
    meta: { title: 'teams.create.title', help: 'teams' },
  },
  {
    path: 'admin',
    component: () => import('@/views/admin/AdminConsoleView.vue'),
    meta: { help: 'admin' },
    children: [
      {
        path: '',
        name: 'admin.health',
        component: () => import('@/views/admin/AdminHealthView.vue'),
        meta: { title: 'admin.title' },
      },
      {
        path: 'tenants',
        name: 'admin.tenants',
        component: () => import('@/views/admin/AdminTenantListView.vue'),
        meta: { title: 'admin.nav.tenants', platformAdmin: true },
      },
      {
        path: 'featured',
        name: 'admin.featured',
        component: () => import('@/views/admin/AdminFeaturedListView.vue'),
        meta: { title: 'admin.nav.featured', platformAdmin: true },
      },
      {
        path: 'moderation',
        name: 'admin.moderation',
        component: () => import('@/views/admin/AdminReviewListView.vue'),
        meta: { title: 'admin.nav.moderation', platformAdmin: true },
      },
    ],
  },
  {
    path: 'forbidden',
    name: 'errors.forbidden',
    component: () => import('@/views/errors/ForbiddenView.vue'),
    meta: { title: 'errors.forbiddenTitle' },
  },
  { path: ':kind(u|t)/:slug', children: tenantRoutes },
]

/**
 * Each layout is the parent route of its pages, so the router fetches a layout's chunk
 * and the page's chunk together while it navigates.
 */
export const routes: RouteRecordRaw[] = [
  { path: '/', component: () => import('@/components/TheAppShell.vue'), children: appRoutes },
  { path: '/', component: () => import('@/components/TheAuthLayout.vue'), children: authRoutes },
]

/** Stay in the workspace in view; coming from outside, go back to the last one used. */
async function keepWorkspace(): Promise<void> {
  const session = useSessionStore()
  const tenant = useTenantStore()
  if (tenant.slug) return
  await session.load().catch(() => null)
  const last = tenant.lastSlug ? session.tenantsBySlug.get(tenant.lastSlug) : undefined
  tenant.enter((last ?? session.personal)?.slug ?? null)
}

/** Where a signed-in person lands: the last workspace they used, else their own. */
function homeOf(): RouteLocationRaw {
  const session = useSessionStore()
  const tenant = useTenantStore()
  const last = tenant.lastSlug ? session.tenantsBySlug.get(tenant.lastSlug) : undefined
  const target = last ?? session.personal
  if (!target) return { name: 'auth.signin' }
  return {
    name: 'dashboard.home',
    params: { kind: target.kind === 'personal' ? 'u' : 't', slug: target.slug },
  }
}

export function createAppRouter() {
  const router = createRouter({
    history: createWebHistory(import.meta.env.BASE_URL),
    routes,
    scrollBehavior: (_to, _from, saved) => saved ?? { top: 0 },
  })

  router.beforeEach(async (to, from) => {
    markNavigationStart(String(to.name ?? to.path), from === START_LOCATION)
    const session = useSessionStore()
    const tenant = useTenantStore()
    if (to.meta.public) {
      if (to.meta.guestOnly && session.signedIn) return { name: 'home' }
      // The marketplace knows who is looking, if anyone, and keeps their workspace in the menu.
      if (to.meta.keepWorkspace && session.signedIn) await keepWorkspace()
      return true
    }
    if (!session.signedIn) {
      return { name: 'auth.signin', query: to.fullPath === '/' ? {} : { redirect: to.fullPath } }
    }
    const me = await session.load()
    if (!me) return { name: 'auth.signin', query: { redirect: to.fullPath } }
    if (to.name === 'home') return homeOf()
    if (to.meta.platformAdmin && !(await useAdminStore().load().catch(() => false))) {
      return { name: 'errors.forbidden', query: { from: to.fullPath } }
    }

    const slug = typeof to.params['slug'] === 'string' ? to.params['slug'] : null
    if (!slug) {
      if (to.meta.keepWorkspace) await keepWorkspace()
      else tenant.enter(null)
      return true
    }
    // A workspace joined or created in another tab is not in `me` yet: look once more.
    if (!session.tenantsBySlug.has(slug)) await session.load(true)
    const membership = session.tenantsBySlug.get(slug)
    const kind = membership?.kind === 'personal' ? 'u' : 't'
    if (!membership) {
      return { name: 'errors.notFound', params: { pathMatch: to.path.slice(1).split('/') } }
    }
    if (kind !== to.params['kind']) return { ...to, params: { ...to.params, kind } }
    if (to.meta.minRole && !roleAtLeast(membership.role, to.meta.minRole)) {
      return { name: 'errors.forbidden', query: { from: to.fullPath } }
    }
    tenant.enter(slug)
    return true
  })

  return router
}
