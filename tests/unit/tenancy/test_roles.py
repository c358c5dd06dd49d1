"""The tenant roles matrix: who may invite, change roles and remove whom.

Every case is given/when/then on the Tenant aggregate: a team owned by `owner` with one
member per role (`adam` admin, `mia` member, `vic` viewer) and spare targets.
"""

from __future__ import annotations

from uuid import UUID

import pytest

from domain.shared.aggregate import deterministic_id
from domain.shared.errors import DomainError
from domain.tenancy.application import Tenancy, digest
from domain.tenancy.errors import (
    LastOwnerError,
    MemberNotFoundError,
    PersonalTenantError,
    RoleRequiredError,
    TenantNotFoundError,
    TenantSuspendedError,
)
from domain.tenancy.tenants import Tenant
from domain.tenancy.values import Role
from tests.unit.tenancy.gwt import make_team, names, one, recording, register, team_aggregate

ACTORS = {"owner": Role.OWNER, "adam": Role.ADMIN, "mia": Role.MEMBER, "vic": Role.VIEWER}
OUTSIDER = deterministic_id("test-user", "outsider")


def given_team() -> tuple[Tenant, dict[str, UUID]]:
    tenant, ids = team_aggregate(
        adam=Role.ADMIN,
        mia=Role.MEMBER,
        vic=Role.VIEWER,
        t_admin=Role.ADMIN,
        t_member=Role.MEMBER,
        t_viewer=Role.VIEWER,
    )
    ids["outsider"] = OUTSIDER
    return tenant, ids


def invite(tenant: Tenant, by: UUID, role: Role, email: str = "new@example.com") -> None:
    tenant.invite(by, email, role, digest("secret"), deterministic_id("test-invitation", email))


# --- invite ---------------------------------------------------------------------------------

INVITE_CASES = [
    ("owner", Role.OWNER, None),
    ("owner", Role.ADMIN, None),
    ("owner", Role.MEMBER, None),
    ("owner", Role.VIEWER, None),
    ("adam", Role.OWNER, RoleRequiredError),
    ("adam", Role.ADMIN, None),
    ("adam", Role.MEMBER, None),
    ("adam", Role.VIEWER, None),
    ("mia", Role.VIEWER, RoleRequiredError),
    ("mia", Role.MEMBER, RoleRequiredError),
    ("vic", Role.VIEWER, RoleRequiredError),
    ("outsider", Role.VIEWER, TenantNotFoundError),
]


@pytest.mark.parametrize(("actor", "role", "refused"), INVITE_CASES)
def test_invite_matrix(actor: str, role: Role, refused: type[DomainError] | None) -> None:
    tenant, ids = given_team()

    if refused is not None:
        with pytest.raises(refused):
            invite(tenant, ids[actor], role)
        assert tenant.collect_events() == []
        return
    invite(tenant, ids[actor], role)
    then = tenant.collect_events()
    issued = one(then, Tenant.InvitationIssued)
    assert names(then) == ["Tenant.InvitationIssued"]
    assert (issued.email, issued.role, issued.token_hash) == (
        "new@example.com",
        role.value,
        digest("secret"),
    )


def test_only_owners_grant_owner_and_the_error_says_so() -> None:
    tenant, ids = given_team()

    with pytest.raises(RoleRequiredError) as error:
        invite(tenant, ids["adam"], Role.OWNER)

    assert error.value.code == "tenant.role_required"


def test_a_suspended_tenant_invites_nobody() -> None:
    tenant, ids = given_team()
    tenant.suspend("unpaid")
    tenant.collect_events()

    with pytest.raises(TenantSuspendedError) as error:
        invite(tenant, ids["owner"], Role.MEMBER)

    assert error.value.code == "tenant.suspended"
    assert tenant.collect_events() == []


def test_a_personal_tenant_invites_nobody(tenancy: Tenancy) -> None:
    alice = register(tenancy, "alice")

    with recording(tenancy) as then, pytest.raises(PersonalTenantError) as error:
        tenancy.invite_member("alice", alice, "bob@example.com", Role.MEMBER)

    assert error.value.code == "tenant.personal"
    assert then == []


# --- change role ----------------------------------------------------------------------------

CHANGE_CASES = [
    ("owner", "t_member", Role.ADMIN, None),
    ("owner", "t_member", Role.OWNER, None),
    ("owner", "t_admin", Role.VIEWER, None),
    ("owner", "t_viewer", Role.MEMBER, None),
    ("adam", "t_member", Role.ADMIN, None),
    ("adam", "t_viewer", Role.MEMBER, None),
    ("adam", "t_admin", Role.MEMBER, None),
    ("adam", "t_member", Role.OWNER, RoleRequiredError),
    ("adam", "owner", Role.ADMIN, RoleRequiredError),
    ("mia", "t_viewer", Role.MEMBER, RoleRequiredError),
    ("mia", "mia", Role.ADMIN, RoleRequiredError),
    ("vic", "t_member", Role.VIEWER, RoleRequiredError),
    ("outsider", "t_member", Role.VIEWER, TenantNotFoundError),
    ("owner", "owner", Role.ADMIN, LastOwnerError),
    ("owner", "outsider", Role.MEMBER, MemberNotFoundError),
]


@pytest.mark.parametrize(("actor", "target", "role", "refused"), CHANGE_CASES)
def test_change_role_matrix(
    actor: str, target: str, role: Role, refused: type[DomainError] | None
) -> None:
    tenant, ids = given_team()

    if refused is not None:
        with pytest.raises(refused):
            tenant.change_member_role(ids[actor], ids[target], role)
        assert tenant.collect_events() == []
        return
    tenant.change_member_role(ids[actor], ids[target], role)
    then = tenant.collect_events()
    changed = one(then, Tenant.MemberRoleChanged)
    assert names(then) == ["Tenant.MemberRoleChanged"]
    assert (changed.user_id, changed.role) == (ids[target], role.value)


def test_the_same_role_again_changes_nothing() -> None:
    tenant, ids = given_team()

    tenant.change_member_role(ids["owner"], ids["t_member"], Role.MEMBER)

    assert tenant.collect_events() == []


def test_the_last_owner_cannot_be_demoted_but_one_of_two_owners_can() -> None:
    tenant, ids = given_team()
    with pytest.raises(LastOwnerError) as error:
        tenant.change_member_role(ids["owner"], ids["owner"], Role.MEMBER)
    assert error.value.code == "tenant.last_owner"

    tenant.change_member_role(ids["owner"], ids["adam"], Role.OWNER)
    tenant.change_member_role(ids["adam"], ids["owner"], Role.MEMBER)

    then = tenant.collect_events()
    assert [(e.user_id, e.role) for e in then] == [
        (ids["adam"], "owner"),
        (ids["owner"], "member"),
    ]
    assert tenant.role_of(ids["owner"]) == Role.MEMBER
    # adam is now the last owner
    with pytest.raises(LastOwnerError):
        tenant.change_member_role(ids["adam"], ids["adam"], Role.ADMIN)


def test_a_suspended_tenant_changes_no_roles() -> None:
    tenant, ids = given_team()
    tenant.suspend("unpaid")
    tenant.collect_events()

    with pytest.raises(TenantSuspendedError):
        tenant.change_member_role(ids["owner"], ids["t_member"], Role.ADMIN)


# --- remove ---------------------------------------------------------------------------------

REMOVE_CASES = [
    ("owner", "t_admin", None),
    ("owner", "t_member", None),
    ("owner", "t_viewer", None),
    ("adam", "t_admin", None),
    ("adam", "t_member", None),
    ("adam", "t_viewer", None),
    ("adam", "owner", RoleRequiredError),
    ("mia", "t_viewer", RoleRequiredError),
    ("vic", "t_member", RoleRequiredError),
    ("outsider", "t_member", TenantNotFoundError),
    # anyone may leave...
    ("adam", "adam", None),
    ("mia", "mia", None),
    ("vic", "vic", None),
    # ...but the last owner
    ("owner", "owner", LastOwnerError),
    ("owner", "outsider", MemberNotFoundError),
]


@pytest.mark.parametrize(("actor", "target", "refused"), REMOVE_CASES)
def test_remove_matrix(actor: str, target: str, refused: type[DomainError] | None) -> None:
    tenant, ids = given_team()

    if refused is not None:
        with pytest.raises(refused):
            tenant.remove_member(ids[actor], ids[target])
        assert tenant.collect_events() == []
        return
    tenant.remove_member(ids[actor], ids[target])
    then = tenant.collect_events()
    removed = one(then, Tenant.MemberRemoved)
    assert names(then) == ["Tenant.MemberRemoved"]
    assert removed.user_id == ids[target]
    assert tenant.role_of(ids[target]) is None


def test_one_of_two_owners_may_leave_or_be_removed_by_the_other() -> None:
    tenant, ids = given_team()
    tenant.change_member_role(ids["owner"], ids["adam"], Role.OWNER)
    tenant.change_member_role(ids["owner"], ids["mia"], Role.OWNER)
    tenant.collect_events()

    tenant.remove_member(ids["owner"], ids["adam"])
    tenant.remove_member(ids["owner"], ids["owner"])

    then = tenant.collect_events()
    assert [e.user_id for e in then] == [ids["adam"], ids["owner"]]
    with pytest.raises(LastOwnerError):
        tenant.remove_member(ids["mia"], ids["mia"])


def test_a_personal_tenant_removes_nobody(tenancy: Tenancy) -> None:
    alice = register(tenancy, "alice")

    with pytest.raises(PersonalTenantError):
        tenancy.remove_member("alice", alice, alice)


# --- the same rules through the application --------------------------------------------------


def test_the_application_enforces_roles_and_records_the_outcome(tenancy: Tenancy) -> None:
    team = make_team(tenancy, adam=Role.ADMIN, mia=Role.MEMBER, vic=Role.VIEWER)

    with recording(tenancy) as refused, pytest.raises(RoleRequiredError):
        tenancy.change_member_role(team.slug, team["mia"], team["vic"], Role.MEMBER)
    assert refused == []

    with recording(tenancy) as changed:
        tenancy.change_member_role(team.slug, team["adam"], team["vic"], Role.MEMBER)
    assert [(type(e).__qualname__, e.user_id, e.role) for e in changed] == [
        ("Tenant.MemberRoleChanged", team["vic"], "member")
    ]
    assert changed[0].tenant_id == str(team.tenant_id)

    with recording(tenancy) as removed:
        tenancy.remove_member(team.slug, team["adam"], team["vic"])
    assert names(removed) == ["Tenant.MemberRemoved"]

    # a non-member learns nothing about the tenant, even when removing themselves
    outsider = register(tenancy, "zed")
    with pytest.raises(TenantNotFoundError):
        tenancy.remove_member(team.slug, outsider, outsider)
    with pytest.raises(TenantNotFoundError):
        tenancy.rename_tenant(team.slug, outsider, "Mine now")
    # renaming needs admin
    with pytest.raises(RoleRequiredError):
        tenancy.rename_tenant(team.slug, team["mia"], "Mia's")
    with recording(tenancy) as renamed:
        tenancy.rename_tenant(team.slug, team["adam"], "Acme Ltd")
    assert [(type(e).__qualname__, e.name) for e in renamed] == [("Tenant.Renamed", "Acme Ltd")]
