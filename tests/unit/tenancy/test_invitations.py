"""Invitations: a link for one email address, accepted once, revocable, never for a member."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from domain.shared.aggregate import deterministic_id, utcnow
from domain.tenancy.application import Tenancy, digest
from domain.tenancy.errors import (
    AlreadyMemberError,
    InvitationNotFoundError,
    LinkInvalidError,
    RoleRequiredError,
    TenantSuspendedError,
)
from domain.tenancy.tenants import INVITATION_TTL, Tenant
from domain.tenancy.values import Role
from tests.unit.tenancy.gwt import make_team, names, one, recording, register, team_aggregate


def test_an_invitation_is_issued_for_a_normalized_email(tenancy: Tenancy) -> None:
    team = make_team(tenancy)

    with recording(tenancy) as then:
        invitation = tenancy.invite_member(team.slug, team["owner"], " Bob@Example.COM", Role.ADMIN)

    issued = one(then, Tenant.InvitationIssued)
    assert names(then) == ["Tenant.InvitationIssued"]
    tenant_hex, invitation_hex, secret = invitation.token.split(".")
    assert tenant_hex == team.tenant_id.hex
    assert invitation_hex == invitation.invitation_id.hex == issued.invitation_id.hex
    assert issued.email == "bob@example.com"
    assert issued.role == "admin"
    assert issued.token_hash == digest(secret)
    assert secret not in str(vars(issued))
    assert timedelta(days=6) < issued.expires_at - utcnow() <= INVITATION_TTL
    assert issued.tenant_id == str(team.tenant_id)


def test_accepting_adds_the_member_with_the_invited_role(tenancy: Tenancy) -> None:
    team = make_team(tenancy)
    bob = register(tenancy, "bob")
    invitation = tenancy.invite_member(team.slug, team["owner"], "BOB@example.com", Role.ADMIN)

    with recording(tenancy) as then:
        tenancy.accept_invitation(invitation.token, bob)

    assert names(then) == ["Tenant.InvitationAccepted", "Tenant.MemberAdded"]
    accepted = one(then, Tenant.InvitationAccepted)
    added = one(then, Tenant.MemberAdded)
    assert (accepted.invitation_id, accepted.user_id) == (invitation.invitation_id, bob)
    assert (added.user_id, added.username, added.email, added.role) == (
        bob,
        "bob",
        "bob@example.com",
        "admin",
    )
    assert tenancy.tenant(team.tenant_id).role_of(bob) == Role.ADMIN

    # the link is spent
    with recording(tenancy) as again, pytest.raises(LinkInvalidError):
        tenancy.accept_invitation(invitation.token, bob)
    assert again == []


def test_the_email_must_match_the_invited_address(tenancy: Tenancy) -> None:
    team = make_team(tenancy)
    mallory = register(tenancy, "mallory")
    invitation = tenancy.invite_member(team.slug, team["owner"], "bob@example.com", Role.MEMBER)

    with recording(tenancy) as then, pytest.raises(LinkInvalidError) as error:
        tenancy.accept_invitation(invitation.token, mallory)

    assert error.value.code == "auth.link_invalid"
    assert then == []
    # the invitation is still there for bob
    bob = register(tenancy, "bob")
    tenancy.accept_invitation(invitation.token, bob)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # wrong secret
        lambda token: "0" * 32 + token[32:],  # unknown tenant
        lambda token: token.split(".")[0] + "." + "0" * 32 + "." + token.split(".")[2],
        lambda token: token.rsplit(".", 1)[0],  # missing part
        lambda token: "zz." + token.split(".", 1)[1],  # not an id
    ],
)
def test_a_mangled_invitation_link_is_invalid(
    tenancy: Tenancy, mangle: Callable[[str], str]
) -> None:
    team = make_team(tenancy)
    bob = register(tenancy, "bob")
    invitation = tenancy.invite_member(team.slug, team["owner"], "bob@example.com", Role.MEMBER)

    with recording(tenancy) as then, pytest.raises(LinkInvalidError):
        tenancy.accept_invitation(mangle(invitation.token), bob)

    assert then == []


def test_a_revoked_invitation_cannot_be_accepted(tenancy: Tenancy) -> None:
    team = make_team(tenancy, adam=Role.ADMIN, mia=Role.MEMBER)
    bob = register(tenancy, "bob")
    invitation = tenancy.invite_member(team.slug, team["owner"], "bob@example.com", Role.MEMBER)

    with pytest.raises(RoleRequiredError):
        tenancy.revoke_invitation(team.slug, team["mia"], invitation.invitation_id)
    with recording(tenancy) as then:
        tenancy.revoke_invitation(team.slug, team["adam"], invitation.invitation_id)

    revoked = one(then, Tenant.InvitationRevoked)
    assert revoked.invitation_id == invitation.invitation_id
    with pytest.raises(LinkInvalidError):
        tenancy.accept_invitation(invitation.token, bob)
    with pytest.raises(InvitationNotFoundError) as error:
        tenancy.revoke_invitation(team.slug, team["adam"], invitation.invitation_id)
    assert error.value.code == "invitation.not_found"


def test_an_existing_member_cannot_be_invited(tenancy: Tenancy) -> None:
    team = make_team(tenancy, bob=Role.MEMBER)

    with recording(tenancy) as then, pytest.raises(AlreadyMemberError) as error:
        tenancy.invite_member(team.slug, team["owner"], "Bob@example.com", Role.ADMIN)

    assert error.value.code == "tenant.already_member"
    assert error.value.field == "email"
    assert then == []


def test_a_second_invitation_cannot_make_a_member_join_twice(tenancy: Tenancy) -> None:
    team = make_team(tenancy)
    bob = register(tenancy, "bob")
    first = tenancy.invite_member(team.slug, team["owner"], "bob@example.com", Role.MEMBER)
    second = tenancy.invite_member(team.slug, team["owner"], "bob@example.com", Role.ADMIN)
    tenancy.accept_invitation(first.token, bob)

    with recording(tenancy) as then, pytest.raises(AlreadyMemberError):
        tenancy.accept_invitation(second.token, bob)

    assert then == []
    assert tenancy.tenant(team.tenant_id).role_of(bob) == Role.MEMBER


def test_an_expired_invitation_is_refused() -> None:
    tenant, _ = team_aggregate()
    invitation_id = deterministic_id("test-invitation", "late")
    tenant.trigger_event(
        Tenant.InvitationIssued,
        invitation_id=invitation_id,
        email="late@example.com",
        role="member",
        token_hash=digest("s"),
        expires_at=utcnow() - timedelta(seconds=1),
    )
    tenant.collect_events()

    with pytest.raises(LinkInvalidError):
        tenant.accept_invitation(
            invitation_id, digest("s"), deterministic_id("u", "late"), "late", "late@example.com"
        )
    assert tenant.collect_events() == []


def test_a_suspended_tenant_accepts_nobody(tenancy: Tenancy) -> None:
    team = make_team(tenancy)
    bob = register(tenancy, "bob")
    invitation = tenancy.invite_member(team.slug, team["owner"], "bob@example.com", Role.MEMBER)
    tenancy.suspend_tenant(team.slug, "unpaid")

    with recording(tenancy) as then, pytest.raises(TenantSuspendedError):
        tenancy.accept_invitation(invitation.token, bob)

    assert then == []
    tenancy.reactivate_tenant(team.slug)
    tenancy.accept_invitation(invitation.token, bob)


def test_a_removed_member_can_be_invited_back(tenancy: Tenancy) -> None:
    team = make_team(tenancy, bob=Role.ADMIN)
    tenancy.remove_member(team.slug, team["owner"], team["bob"])

    invitation = tenancy.invite_member(team.slug, team["owner"], "bob@example.com", Role.VIEWER)
    with recording(tenancy) as then:
        tenancy.accept_invitation(invitation.token, team["bob"])

    assert one(then, Tenant.MemberAdded).role == "viewer"
