"""A command that changes nothing records nothing, and still answers (no crash, no event).

Clients retry (after a timeout or a 409) with the same body, and operators click twice, so
"rename to the current name", "revoke a revoked token" or "suspend a suspended tenant" must
succeed quietly. (A regression test: an empty save used to raise IndexError in
`BaseApplication.commit`, an HTTP 500.)
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import pytest

from domain.shared.application import CommandResult
from domain.tenancy.application import Tenancy
from domain.tenancy.values import Plan, Role, Scope
from tests.unit.tenancy.gwt import Team, make_team, recording


@pytest.fixture
def team(tenancy: Tenancy) -> Team:
    return make_team(tenancy, mia=Role.MEMBER)


# Each case: (given, when). `given` brings the state about; `when` asks for it again.
Step = Callable[[Tenancy, Team], object]


def _nothing(t: Tenancy, team: Team) -> None:
    return None


def _suspend(t: Tenancy, team: Team) -> object:
    return t.suspend_tenant(team.slug, "unpaid")


def _issue_and_revoke(t: Tenancy, team: Team) -> object:
    issued = t.issue_token(team.slug, team["mia"], "ci", [Scope.MCP_READ], None)
    t.revoke_token(team.slug, team["mia"], issued.token_id)
    return issued.token_id


CASES: dict[str, tuple[Step, Callable[[Tenancy, Team, object], CommandResult]]] = {
    "rename to the current name": (
        _nothing,
        lambda t, team, _: t.rename_tenant(team.slug, team["owner"], "Acme Inc"),
    ),
    "grant the role the member has": (
        _nothing,
        lambda t, team, _: t.change_member_role(team.slug, team["owner"], team["mia"], Role.MEMBER),
    ),
    "change to the current plan": (
        _nothing,
        lambda t, team, _: t.change_plan(team.slug, Plan.FREE),
    ),
    "reactivate an active tenant": (_nothing, lambda t, team, _: t.reactivate_tenant(team.slug)),
    "suspend a suspended tenant": (
        _suspend,
        lambda t, team, _: t.suspend_tenant(team.slug, "unpaid"),
    ),
    "revoke a revoked token": (
        _issue_and_revoke,
        lambda t, team, token_id: t.revoke_token(team.slug, team["mia"], UUID(str(token_id))),
    ),
    "set the current display name": (
        _nothing,
        lambda t, team, _: t.update_profile(team["mia"], "mia"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_command_that_changes_nothing_succeeds_and_records_nothing(
    tenancy: Tenancy, team: Team, case: str
) -> None:
    given, when = CASES[case]
    context = given(tenancy, team)

    with recording(tenancy) as then:
        result = when(tenancy, team, context)  # must not raise

    assert then == []
    assert isinstance(result, CommandResult)
