"""Review commands: one review per person and service, edited or removed by its author,
moderated by platform operators."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Path, Response, status

from api.deps import ContainerDep, UserDep, is_platform_admin
from api.errors import PROBLEMS, ProblemError
from api.routes.services import accepted, acting_on
from api.schemas import CommandAccepted
from api.schemas_services import ReviewCreate, ReviewRemoval
from domain.marketplace.application import Acting

router = APIRouter(prefix="/api/v1/services", tags=["reviews"], responses=PROBLEMS)

NamePath = Path(min_length=1, max_length=64, description="The service's unique name")


@router.post(
    "/{name}/reviews",
    summary="Review a service",
    status_code=status.HTTP_201_CREATED,
    response_model=CommandAccepted,
)
def post_review(
    body: ReviewCreate,
    principal: UserDep,
    container: ContainerDep,
    response: Response,
    name: str = NamePath,
) -> CommandAccepted:
    """One review per person and service; members of the publisher cannot review it."""
    user = container.tenancy.user(principal.user_id)
    who = acting_on(container, principal, name, change=False)
    result = container.marketplace.post_review(
        name,
        user.id,
        user.username,
        user.personal_tenant_id,
        who,
        body.rating,
        body.comment,
    )
    return accepted(response, result)


@router.put("/{name}/reviews/me", summary="Edit your review", response_model=CommandAccepted)
def edit_review(
    body: ReviewCreate,
    principal: UserDep,
    container: ContainerDep,
    response: Response,
    name: str = NamePath,
) -> CommandAccepted:
    result = container.marketplace.edit_review(name, principal.user_id, body.rating, body.comment)
    return accepted(response, result)


@router.delete("/{name}/reviews/me", summary="Remove your review", response_model=CommandAccepted)
def remove_own_review(
    principal: UserDep, container: ContainerDep, response: Response, name: str = NamePath
) -> CommandAccepted:
    who = Acting(role=None)
    result = container.marketplace.remove_review(
        name, principal.user_id, principal.user_id, who, "removed by the author"
    )
    return accepted(response, result)


@router.post(
    "/{name}/reviews/{user_id}/remove",
    summary="Remove a review (moderation)",
    response_model=CommandAccepted,
)
def moderate_review(
    user_id: UUID,
    body: ReviewRemoval,
    principal: UserDep,
    container: ContainerDep,
    response: Response,
    name: str = NamePath,
) -> CommandAccepted:
    """Platform operators only; the author cannot post it again."""
    if not is_platform_admin(container, principal):
        raise ProblemError(403, "platform.admin_required", "this needs a platform operator")
    who = Acting(role=None, platform_admin=True)
    result = container.marketplace.remove_review(name, user_id, principal.user_id, who, body.reason)
    return accepted(response, result)
