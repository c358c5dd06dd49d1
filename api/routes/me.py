"""The signed-in person's own account."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import (
    ContainerDep,
    PrincipalDep,
    UserDep,
    WaitForDep,
    await_read_model,
    forget_credentials,
)
from api.errors import PROBLEMS
from api.schemas import CommandAccepted, Membership, MePublic, PasswordChange, ProfileUpdate
from projections.directory import memberships_of

router = APIRouter(prefix="/api/v1/me", tags=["me"], responses=PROBLEMS)


@router.get("", summary="Who am I", response_model=MePublic)
def me(principal: PrincipalDep, container: ContainerDep, wait_for: WaitForDep) -> MePublic:
    """The caller's profile and the tenants they belong to, with their role in each."""
    await_read_model(container, "directory", wait_for)
    user = container.tenancy.user(principal.user_id)
    with container.db.scoped(user_id=user.id) as conn:
        memberships = [Membership(**row) for row in memberships_of(conn, user.id)]
    return MePublic(
        user_id=user.id,
        email=user.email,
        username=user.username,
        display_name=user.display_name,
        email_verified=user.email_verified,
        personal_tenant=user.username,
        tenants=memberships,
    )


@router.patch("", summary="Update my profile", response_model=CommandAccepted)
def update_me(body: ProfileUpdate, principal: UserDep, container: ContainerDep) -> CommandAccepted:
    """Change the display name."""
    result = container.tenancy.update_profile(principal.user_id, body.display_name)
    return CommandAccepted.of(result)


@router.post("/password", summary="Change my password", response_model=CommandAccepted)
def change_password(
    body: PasswordChange, principal: UserDep, container: ContainerDep, request: Request
) -> CommandAccepted:
    """Needs the current password."""
    result = container.tenancy.change_password(
        principal.user_id, body.old_password, body.new_password
    )
    forget_credentials(request)
    return CommandAccepted.of(result)
