"""Tenants: teams, their members and invitations."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Path, Request, status

from api.deps import (
    ContainerDep,
    Principal,
    PrincipalDep,
    UserDep,
    WaitForDep,
    await_read_model,
    forget_credentials,
    is_platform_admin,
    tenant_access,
)
from api.errors import PROBLEMS, ProblemError
from api.schemas import (
    CommandAccepted,
    InvitationCreate,
    InvitationIssued,
    InvitationPublic,
    InvitationsPublic,
    LinkToken,
    MemberPublic,
    MembersPublic,
    MemberUpdate,
    TenantCreate,
    TenantPublic,
    TenantSuspend,
    TenantUpdate,
)
from domain.tenancy.values import Role
from infra.container import Container
from projections.directory import invitations_of, members_of, memberships_of, tenant_row

router = APIRouter(prefix="/api/v1", tags=["tenants"], responses=PROBLEMS)

SlugPath = Path(
    min_length=1, max_length=64, description="The tenant's slug (a username for a personal tenant)"
)


def _require_platform_admin(container: Container, principal: Principal) -> None:
    if not is_platform_admin(container, principal):
        raise ProblemError(403, "platform.admin_required", "this needs a platform operator")


@router.post(
    "/tenants",
    summary="Create a team",
    status_code=status.HTTP_201_CREATED,
    response_model=CommandAccepted,
)
def create_team(body: TenantCreate, principal: UserDep, container: ContainerDep) -> CommandAccepted:
    """A new team tenant at `/t/{slug}`, with the caller as its owner."""
    return CommandAccepted.of(
        container.tenancy.create_team(principal.user_id, body.slug, body.name)
    )


@router.get("/tenants", summary="List my tenants", response_model=list[TenantPublic])
def list_tenants(
    principal: PrincipalDep, container: ContainerDep, wait_for: WaitForDep
) -> list[TenantPublic]:
    """Every tenant the caller belongs to, personal first."""
    await_read_model(container, "directory", wait_for)
    with container.db.scoped(user_id=principal.user_id) as conn:
        rows = memberships_of(conn, principal.user_id)
        result = []
        for row in rows:
            if principal.token and principal.token.tenant_id != row["tenant_id"]:
                continue
            tenant = tenant_row(conn, row["tenant_id"])
            if tenant is not None:
                result.append(TenantPublic(**tenant, role=row["role"]))
    return result


@router.get("/tenants/{slug}", summary="Get a tenant", response_model=TenantPublic)
def get_tenant(
    principal: PrincipalDep, container: ContainerDep, wait_for: WaitForDep, slug: str = SlugPath
) -> TenantPublic:
    """A tenant the caller belongs to; others are 404, so existence does not leak."""
    access = tenant_access(container, principal, slug, Role.VIEWER)
    await_read_model(container, "directory", wait_for)
    with container.db.scoped(access.tenant_id, principal.user_id) as conn:
        row = tenant_row(conn, access.tenant_id)
    if row is None:
        raise ProblemError(
            503,
            "read_model.lagging",
            "the tenant is not in the read model yet",
            headers={"Retry-After": "1"},
        )
    return TenantPublic(**row, role=access.role.value)


@router.patch("/tenants/{slug}", summary="Rename a tenant", response_model=CommandAccepted)
def rename_tenant(
    body: TenantUpdate, principal: PrincipalDep, container: ContainerDep, slug: str = SlugPath
) -> CommandAccepted:
    """Admins and owners may rename."""
    access = tenant_access(container, principal, slug, Role.ADMIN)
    result = container.tenancy.rename_tenant(access.tenant, principal.user_id, body.name)
    return CommandAccepted.of(result)


@router.post("/tenants/{slug}/suspend", summary="Suspend a tenant", response_model=CommandAccepted)
def suspend_tenant(
    body: TenantSuspend,
    principal: UserDep,
    container: ContainerDep,
    request: Request,
    slug: str = SlugPath,
) -> CommandAccepted:
    """Platform operators only: the tenant's tokens and commands stop working."""
    _require_platform_admin(container, principal)
    result = container.tenancy.suspend_tenant(slug, body.reason)
    forget_credentials(request)
    return CommandAccepted.of(result)


@router.post(
    "/tenants/{slug}/reactivate", summary="Reactivate a tenant", response_model=CommandAccepted
)
def reactivate_tenant(
    principal: UserDep, container: ContainerDep, request: Request, slug: str = SlugPath
) -> CommandAccepted:
    """Platform operators only."""
    _require_platform_admin(container, principal)
    result = container.tenancy.reactivate_tenant(slug)
    forget_credentials(request)  # its tokens, refused while it was suspended
    return CommandAccepted.of(result)


@router.get("/tenants/{slug}/members", summary="List members", response_model=MembersPublic)
def list_members(
    principal: PrincipalDep, container: ContainerDep, wait_for: WaitForDep, slug: str = SlugPath
) -> MembersPublic:
    """Everyone in the tenant with their role."""
    access = tenant_access(container, principal, slug, Role.VIEWER)
    await_read_model(container, "directory", wait_for)
    with container.db.scoped(access.tenant_id, principal.user_id) as conn:
        return MembersPublic(data=[MemberPublic(**r) for r in members_of(conn, access.tenant_id)])


@router.patch(
    "/tenants/{slug}/members/{user_id}",
    summary="Change a member's role",
    response_model=CommandAccepted,
)
def change_member_role(
    user_id: UUID,
    body: MemberUpdate,
    principal: PrincipalDep,
    container: ContainerDep,
    slug: str = SlugPath,
) -> CommandAccepted:
    """Admins change roles; only owners grant or take the owner role; one owner must remain."""
    access = tenant_access(container, principal, slug, Role.ADMIN)
    return CommandAccepted.of(
        container.tenancy.change_member_role(access.tenant, principal.user_id, user_id, body.role)
    )


@router.delete(
    "/tenants/{slug}/members/{user_id}",
    summary="Remove a member or leave",
    response_model=CommandAccepted,
)
def remove_member(
    user_id: UUID, principal: PrincipalDep, container: ContainerDep, slug: str = SlugPath
) -> CommandAccepted:
    """Admins remove others; anyone may remove themselves; the last owner cannot leave."""
    access = tenant_access(container, principal, slug, Role.VIEWER)
    result = container.tenancy.remove_member(access.tenant, principal.user_id, user_id)
    return CommandAccepted.of(result)


@router.get(
    "/tenants/{slug}/invitations", summary="List invitations", response_model=InvitationsPublic
)
def list_invitations(
    principal: PrincipalDep, container: ContainerDep, wait_for: WaitForDep, slug: str = SlugPath
) -> InvitationsPublic:
    """Pending, accepted and revoked invitations, newest first."""
    access = tenant_access(container, principal, slug, Role.ADMIN)
    await_read_model(container, "directory", wait_for)
    with container.db.scoped(access.tenant_id, principal.user_id) as conn:
        rows = invitations_of(conn, access.tenant_id)
    return InvitationsPublic(data=[InvitationPublic(**r) for r in rows])


@router.post(
    "/tenants/{slug}/invitations",
    summary="Invite someone by email",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationIssued,
)
def invite(
    body: InvitationCreate, principal: PrincipalDep, container: ContainerDep, slug: str = SlugPath
) -> InvitationIssued:
    """Emails a single-use link that expires in 7 days; only that address can accept it."""
    access = tenant_access(container, principal, slug, Role.ADMIN)
    version = access.tenant.version + 1  # the invitation's event (the command adds it below)
    invitation = container.tenancy.invite_member(
        access.tenant, principal.user_id, str(body.email), body.role
    )
    link = f"{container.settings.public_url}/invitations/accept?token={invitation.token}"
    container.mailer.send(
        str(body.email),
        f"You are invited to {access.tenant.name} on MCPS.ONE",
        f"You were invited to join {access.tenant.name} as {body.role.value}.\n\n"
        f"Accept here:\n{link}\n\nOr paste this code: {invitation.token}\n\n"
        "The invitation expires in 7 days.",
    )
    return InvitationIssued(
        id=access.tenant_id,
        version=version,
        position=invitation.position,
        invitation_id=invitation.invitation_id,
    )


@router.delete(
    "/tenants/{slug}/invitations/{invitation_id}",
    summary="Revoke an invitation",
    response_model=CommandAccepted,
)
def revoke_invitation(
    invitation_id: UUID, principal: PrincipalDep, container: ContainerDep, slug: str = SlugPath
) -> CommandAccepted:
    """The link stops working at once."""
    access = tenant_access(container, principal, slug, Role.ADMIN)
    return CommandAccepted.of(
        container.tenancy.revoke_invitation(access.tenant, principal.user_id, invitation_id)
    )


@router.post("/invitations/accept", summary="Accept an invitation", response_model=CommandAccepted)
def accept_invitation(
    body: LinkToken, principal: UserDep, container: ContainerDep
) -> CommandAccepted:
    """Join the tenant; the signed-in user's email must be the invited one."""
    return CommandAccepted.of(container.tenancy.accept_invitation(body.token, principal.user_id))
