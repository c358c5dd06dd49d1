"""API tokens: scoped to one tenant, known only by hash, refused once revoked or expired."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.shared.aggregate import utcnow
from domain.shared.errors import InvalidInputError
from domain.tenancy.application import (
    API_TOKEN_PREFIX,
    Tenancy,
    TokenPrincipal,
    digest,
    require_scope,
)
from domain.tenancy.errors import (
    ApiTokenNotFoundError,
    RoleRequiredError,
    ScopeRequiredError,
    TenantNotFoundError,
    TenantSuspendedError,
    TokenInvalidError,
)
from domain.tenancy.tokens import ApiToken
from domain.tenancy.values import Role, Scope
from tests.unit.tenancy.gwt import Team, make_team, names, one, recording, register

READ_EXEC = [Scope.MCP_READ, Scope.MCP_EXECUTE, Scope.MCP_READ]


@pytest.fixture
def team(tenancy: Tenancy) -> Team:
    return make_team(tenancy, adam=Role.ADMIN, mia=Role.MEMBER, vic=Role.VIEWER)


def test_a_member_issues_a_scoped_token_known_only_by_its_hash(
    tenancy: Tenancy, team: Team
) -> None:
    expires = utcnow() + timedelta(days=30)

    with recording(tenancy) as then:
        issued = tenancy.issue_token(team.slug, team["mia"], "ci", READ_EXEC, expires)

    event = one(then, ApiToken.Issued)
    assert names(then) == ["ApiToken.Issued"]
    assert issued.token.startswith(API_TOKEN_PREFIX)
    assert issued.prefix == issued.token[: len(API_TOKEN_PREFIX) + 6]
    assert issued.token_id == event.originator_id == ApiToken.create_id(digest(issued.token))
    assert event.token_hash == digest(issued.token)
    assert (event.tenant, event.name, event.prefix) == (team.tenant_id, "ci", issued.prefix)
    assert event.scopes == ["mcp:execute", "mcp:read"]  # sorted, no duplicates
    assert (event.expires_at, event.created_by) == (expires, team["mia"])
    assert event.tenant_id == str(team.tenant_id)
    for value in vars(event).values():
        assert issued.token not in str(value)


@pytest.mark.parametrize(
    ("who", "scopes", "refused"),
    [
        ("owner", [Scope.ADMIN], None),
        ("adam", [Scope.ADMIN, Scope.DEPLOY_WRITE], None),
        ("mia", [Scope.BILLING_READ], None),
        ("mia", [Scope.ADMIN], RoleRequiredError),
        ("vic", [Scope.MCP_READ], RoleRequiredError),
    ],
)
def test_who_may_issue_which_scopes(
    tenancy: Tenancy, team: Team, who: str, scopes: list[Scope], refused: type | None
) -> None:
    if refused is None:
        with recording(tenancy) as then:
            tenancy.issue_token(team.slug, team[who], "t", scopes, None)
        assert one(then, ApiToken.Issued).scopes == sorted(s.value for s in scopes)
        return
    with recording(tenancy) as then, pytest.raises(refused):
        tenancy.issue_token(team.slug, team[who], "t", scopes, None)
    assert then == []


def test_an_outsider_cannot_issue_a_token(tenancy: Tenancy, team: Team) -> None:
    outsider = register(tenancy, "zed")

    with pytest.raises(TenantNotFoundError):
        tenancy.issue_token(team.slug, outsider, "t", [Scope.MCP_READ], None)


@pytest.mark.parametrize("ago", [timedelta(0), timedelta(seconds=1), timedelta(days=1)])
def test_an_expiry_in_the_past_is_refused(tenancy: Tenancy, team: Team, ago: timedelta) -> None:
    with recording(tenancy) as then, pytest.raises(InvalidInputError) as error:
        tenancy.issue_token(team.slug, team["mia"], "t", [Scope.MCP_READ], utcnow() - ago)

    assert error.value.field == "expires_at"
    assert then == []


def test_an_expiry_without_a_time_zone_is_refused_as_input(tenancy: Tenancy, team: Team) -> None:
    """A naive datetime must be refused as input, not crash comparing it with an aware
    `utcnow()` (it used to: a TypeError, an HTTP 500)."""
    naive = datetime(2030, 1, 1)

    with recording(tenancy) as then, pytest.raises(InvalidInputError) as error:
        tenancy.issue_token(team.slug, team["mia"], "t", [Scope.MCP_READ], naive)

    assert error.value.field == "expires_at"
    assert then == []


def test_a_suspended_tenant_issues_no_tokens(tenancy: Tenancy, team: Team) -> None:
    tenancy.suspend_tenant(team.slug, "unpaid")

    with pytest.raises(TenantSuspendedError):
        tenancy.issue_token(team.slug, team["owner"], "t", [Scope.MCP_READ], None)


def test_revoking(tenancy: Tenancy, team: Team) -> None:
    mine = tenancy.issue_token(team.slug, team["mia"], "mine", [Scope.MCP_READ], None)
    adams = tenancy.issue_token(team.slug, team["adam"], "adams", [Scope.MCP_READ], None)

    # a member may not revoke someone else's token, a viewer not even see one
    with pytest.raises(RoleRequiredError):
        tenancy.revoke_token(team.slug, team["mia"], adams.token_id)
    with pytest.raises(RoleRequiredError):
        tenancy.revoke_token(team.slug, team["vic"], mine.token_id)

    # the creator may, and so may an admin
    with recording(tenancy) as then:
        tenancy.revoke_token(team.slug, team["mia"], mine.token_id)
        tenancy.revoke_token(team.slug, team["adam"], adams.token_id)
    assert names(then) == ["ApiToken.Revoked", "ApiToken.Revoked"]
    assert [e.by for e in then] == [f"user:{team['mia']}", f"user:{team['adam']}"]
    assert [e.originator_id for e in then] == [mine.token_id, adams.token_id]


def test_a_token_of_another_tenant_is_not_found(tenancy: Tenancy, team: Team) -> None:
    zed = register(tenancy, "zed")
    foreign = tenancy.issue_token("zed", zed, "x", [Scope.MCP_READ], None)

    with pytest.raises(ApiTokenNotFoundError) as error:
        tenancy.revoke_token(team.slug, team["owner"], foreign.token_id)
    assert error.value.code == "token.not_found"
    with pytest.raises(ApiTokenNotFoundError):
        tenancy.revoke_token(team.slug, team["owner"], team.tenant_id)  # not a token at all


def test_authenticating_a_live_token(tenancy: Tenancy, team: Team) -> None:
    issued = tenancy.issue_token(team.slug, team["adam"], "ci", [Scope.MCP_EXECUTE], None)

    principal = tenancy.authenticate_token(issued.token)

    assert principal == TokenPrincipal(
        token_id=issued.token_id,
        tenant_id=team.tenant_id,
        tenant_slug=team.slug,
        scopes=frozenset({"mcp:execute"}),
        created_by=team["adam"],
    )


@pytest.mark.parametrize(
    "token",
    [
        "ghp_notours",
        API_TOKEN_PREFIX + "never-issued",
        API_TOKEN_PREFIX + "x" * 200,
        "",
    ],
)
def test_a_token_we_did_not_issue_is_invalid(tenancy: Tenancy, team: Team, token: str) -> None:
    with pytest.raises(TokenInvalidError) as error:
        tenancy.authenticate_token(token)

    assert error.value.code == "auth.token_invalid"


def test_a_wrongly_prefixed_copy_of_a_real_token_is_invalid(tenancy: Tenancy, team: Team) -> None:
    issued = tenancy.issue_token(team.slug, team["mia"], "ci", [Scope.MCP_READ], None)

    with pytest.raises(TokenInvalidError):
        tenancy.authenticate_token(issued.token[len(API_TOKEN_PREFIX) :])


def test_a_revoked_token_is_invalid(tenancy: Tenancy, team: Team) -> None:
    issued = tenancy.issue_token(team.slug, team["mia"], "ci", [Scope.MCP_READ], None)
    tenancy.revoke_token(team.slug, team["mia"], issued.token_id)

    with pytest.raises(TokenInvalidError) as error:
        tenancy.authenticate_token(issued.token)
    assert error.value.code == "auth.token_invalid"


def test_an_expired_token_is_invalid(tenancy: Tenancy, team: Team) -> None:
    # given a token whose expiry has passed (stored directly: issuing refuses past expiries)
    token = API_TOKEN_PREFIX + "expired-token-body"
    tenancy.commit(
        ApiToken(
            token_hash=digest(token),
            tenant=team.tenant_id,
            name="old",
            scopes=["mcp:read"],
            prefix=token[:11],
            expires_at=utcnow() - timedelta(seconds=1),
            created_by=team["mia"],
        )
    )

    with pytest.raises(TokenInvalidError):
        tenancy.authenticate_token(token)


def test_a_suspended_tenants_tokens_stop_working_until_reactivated(
    tenancy: Tenancy, team: Team
) -> None:
    issued = tenancy.issue_token(team.slug, team["mia"], "ci", [Scope.MCP_READ], None)

    with recording(tenancy) as suspended:
        tenancy.suspend_tenant(team.slug, "unpaid")
    assert [(type(e).__qualname__, e.reason) for e in suspended] == [("Tenant.Suspended", "unpaid")]
    with pytest.raises(TenantSuspendedError) as error:
        tenancy.authenticate_token(issued.token)
    assert error.value.code == "tenant.suspended"

    with recording(tenancy) as reactivated:
        tenancy.reactivate_tenant(team.slug)
    assert names(reactivated) == ["Tenant.Reactivated"]
    assert tenancy.authenticate_token(issued.token).token_id == issued.token_id


def test_require_scope() -> None:
    def principal(*scopes: str) -> TokenPrincipal:
        zero = ApiToken.create_id("zero")
        return TokenPrincipal(zero, zero, "acme", frozenset(scopes), zero)

    require_scope(principal("mcp:read"), Scope.MCP_READ)
    require_scope(principal("admin"), Scope.DEPLOY_WRITE)  # admin implies every scope
    with pytest.raises(ScopeRequiredError) as error:
        require_scope(principal("mcp:read"), Scope.MCP_EXECUTE)
    assert error.value.code == "token.scope_required"
