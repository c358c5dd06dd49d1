"""A tenant: a person's own space or a team, its members, roles and invitations."""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.domain import event

from domain.shared.aggregate import BaseAggregate, deterministic_id, utcnow
from domain.tenancy.errors import (
    AlreadyMemberError,
    InvitationNotFoundError,
    LastOwnerError,
    LinkInvalidError,
    MemberNotFoundError,
    PersonalTenantError,
    RoleRequiredError,
    TenantNotFoundError,
    TenantSuspendedError,
)
from domain.tenancy.values import Plan, Role, TenantKind

INVITATION_TTL = timedelta(days=7)


class Tenant(BaseAggregate):
    class Created(BaseAggregate.Created):
        slug: str
        name: str
        kind: str
        owner_id: UUID
        owner_username: str
        owner_email: str

    class Renamed(BaseAggregate.Event):
        name: str

    class PlanChanged(BaseAggregate.Event):
        plan: str

    class Suspended(BaseAggregate.Event):
        reason: str

    class Reactivated(BaseAggregate.Event):
        pass

    class MemberAdded(BaseAggregate.Event):
        user_id: UUID
        username: str
        email: str
        role: str

    class MemberRoleChanged(BaseAggregate.Event):
        user_id: UUID
        role: str

    class MemberRemoved(BaseAggregate.Event):
        user_id: UUID

    class InvitationIssued(BaseAggregate.Event):
        invitation_id: UUID
        email: str
        role: str
        token_hash: str
        expires_at: datetime

    class InvitationAccepted(BaseAggregate.Event):
        invitation_id: UUID
        user_id: UUID

    class InvitationRevoked(BaseAggregate.Event):
        invitation_id: UUID

    @staticmethod
    def create_id(slug: str, *_: object, **__: object) -> UUID:
        return deterministic_id("tenant", slug)

    @event(Created)
    def __init__(
        self,
        slug: str,
        name: str,
        kind: str,
        owner_id: UUID,
        owner_username: str,
        owner_email: str,
    ) -> None:
        self.slug = slug
        self.name = name
        self.kind = TenantKind(kind)
        self.plan = Plan.FREE
        self.suspended = False
        self.members: dict[str, dict[str, str]] = {
            str(owner_id): {"role": Role.OWNER, "username": owner_username, "email": owner_email}
        }
        self.invitations: dict[str, dict[str, str]] = {}

    # --- queries on state -------------------------------------------------------------------

    def role_of(self, user_id: UUID) -> Role | None:
        member = self.members.get(str(user_id))
        return Role(member["role"]) if member else None

    def require_role(self, user_id: UUID, at_least: Role) -> Role:
        """The member's role, if it is enough; non-members learn nothing about the tenant."""
        role = self.role_of(user_id)
        if role is None:
            raise TenantNotFoundError("tenant not found")
        if not role.at_least(at_least):
            raise RoleRequiredError(f"this needs the {at_least.value} role or higher")
        return role

    def require_active(self) -> None:
        if self.suspended:
            raise TenantSuspendedError("the tenant is suspended")

    def _owners(self) -> list[str]:
        return [uid for uid, m in self.members.items() if m["role"] == Role.OWNER]

    # --- commands ---------------------------------------------------------------------------

    def rename(self, name: str) -> None:
        self.require_active()
        if name != self.name:
            self._rename(name=name)

    @event(Renamed)
    def _rename(self, name: str) -> None:
        self.name = name

    def change_plan(self, plan: Plan) -> None:
        if plan != self.plan:
            self._change_plan(plan=plan.value)

    @event(PlanChanged)
    def _change_plan(self, plan: str) -> None:
        self.plan = Plan(plan)

    def suspend(self, reason: str) -> None:
        if not self.suspended:
            self._suspend(reason=reason)

    @event(Suspended)
    def _suspend(self, reason: str) -> None:
        self.suspended = True

    def reactivate(self) -> None:
        if self.suspended:
            self._reactivate()

    @event(Reactivated)
    def _reactivate(self) -> None:
        self.suspended = False

    def invite(
        self, by: UUID, email: str, role: Role, token_hash: str, invitation_id: UUID
    ) -> None:
        self.require_active()
        self._require_team()
        actor_role = self.require_role(by, Role.ADMIN)
        if role == Role.OWNER and actor_role != Role.OWNER:
            raise RoleRequiredError("only owners can invite owners")
        if any(m["email"] == email for m in self.members.values()):
            raise AlreadyMemberError("that person is already a member", field="email")
        self._invite(
            invitation_id=invitation_id,
            email=email,
            role=role.value,
            token_hash=token_hash,
            expires_at=utcnow() + INVITATION_TTL,
        )

    @event(InvitationIssued)
    def _invite(
        self, invitation_id: UUID, email: str, role: str, token_hash: str, expires_at: datetime
    ) -> None:
        self.invitations[str(invitation_id)] = {
            "email": email,
            "role": role,
            "token_hash": token_hash,
            "expires_at": expires_at.isoformat(),
        }

    def accept_invitation(
        self, invitation_id: UUID, token_hash: str, user_id: UUID, username: str, email: str
    ) -> None:
        self.require_active()
        invitation = self.invitations.get(str(invitation_id))
        if (
            invitation is None
            or datetime.fromisoformat(invitation["expires_at"]) < utcnow()
            or not hmac.compare_digest(invitation["token_hash"], token_hash)
        ):
            raise LinkInvalidError("the invitation is invalid, revoked, used or expired")
        if invitation["email"] != email:
            raise LinkInvalidError("the invitation was sent to another email address")
        if str(user_id) in self.members:
            raise AlreadyMemberError("you are already a member")
        self._accept_invitation(invitation_id=invitation_id, user_id=user_id)
        self._add_member(user_id=user_id, username=username, email=email, role=invitation["role"])

    @event(InvitationAccepted)
    def _accept_invitation(self, invitation_id: UUID, user_id: UUID) -> None:
        del self.invitations[str(invitation_id)]

    @event(MemberAdded)
    def _add_member(self, user_id: UUID, username: str, email: str, role: str) -> None:
        self.members[str(user_id)] = {"role": role, "username": username, "email": email}

    def revoke_invitation(self, by: UUID, invitation_id: UUID) -> None:
        self.require_role(by, Role.ADMIN)
        if str(invitation_id) not in self.invitations:
            raise InvitationNotFoundError("invitation not found")
        self._revoke_invitation(invitation_id=invitation_id)

    @event(InvitationRevoked)
    def _revoke_invitation(self, invitation_id: UUID) -> None:
        del self.invitations[str(invitation_id)]

    def change_member_role(self, by: UUID, user_id: UUID, role: Role) -> None:
        self.require_active()
        actor_role = self.require_role(by, Role.ADMIN)
        current = self._member_role(user_id)
        if Role.OWNER in (role, current) and actor_role != Role.OWNER:
            raise RoleRequiredError("only owners can grant or take the owner role")
        if current == Role.OWNER and role != Role.OWNER and len(self._owners()) == 1:
            raise LastOwnerError("a tenant needs at least one owner")
        if role != current:
            self._change_member_role(user_id=user_id, role=role.value)

    @event(MemberRoleChanged)
    def _change_member_role(self, user_id: UUID, role: str) -> None:
        self.members[str(user_id)]["role"] = role

    def remove_member(self, by: UUID, user_id: UUID) -> None:
        """Admins remove others; anyone may leave; the last owner may not."""
        self._require_team()
        current = self._member_role(user_id)
        if by != user_id:
            actor_role = self.require_role(by, Role.ADMIN)
            if current == Role.OWNER and actor_role != Role.OWNER:
                raise RoleRequiredError("only owners can remove owners")
        if current == Role.OWNER and len(self._owners()) == 1:
            raise LastOwnerError("the last owner cannot leave; make someone else owner first")
        self._remove_member(user_id=user_id)

    @event(MemberRemoved)
    def _remove_member(self, user_id: UUID) -> None:
        del self.members[str(user_id)]

    def _member_role(self, user_id: UUID) -> Role:
        role = self.role_of(user_id)
        if role is None:
            raise MemberNotFoundError("member not found")
        return role

    def _require_team(self) -> None:
        if self.kind == TenantKind.PERSONAL:
            raise PersonalTenantError(
                "a personal tenant has exactly one member; create a team", field="slug"
            )
