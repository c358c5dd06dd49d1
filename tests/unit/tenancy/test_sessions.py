"""Sessions: a rotating refresh token; a replayed old one is theft and ends the session."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from domain.shared.aggregate import utcnow
from domain.tenancy.application import REFRESH_TTL, Tenancy, digest
from domain.tenancy.errors import TokenInvalidError
from domain.tenancy.users import Session
from tests.unit.tenancy.gwt import PASSWORD, names, one, recording


@pytest.fixture
def user_id(tenancy: Tenancy) -> UUID:
    return tenancy.register_user("alice@example.com", "alice", PASSWORD).user_id


def test_login_starts_a_session_with_a_hashed_refresh_token(
    tenancy: Tenancy, user_id: UUID
) -> None:
    with recording(tenancy) as then:
        login = tenancy.login("Alice@Example.com", PASSWORD, user_agent="x" * 500)

    started = one(then, Session.Started)
    assert names(then) == ["Session.Started"]
    assert login.user_id == user_id == started.user_id
    assert login.session_id == started.originator_id
    session_hex, secret = login.refresh_token.split(".")
    assert session_hex == login.session_id.hex
    assert started.refresh_hash == digest(secret)
    assert secret not in str(vars(started))
    assert started.user_agent == "x" * 200
    assert timedelta(days=29) < started.expires_at - utcnow() <= REFRESH_TTL
    assert started.actor == f"user:{user_id}"
    assert tenancy.session_is_active(login.session_id)


def test_a_refresh_rotates_the_token(tenancy: Tenancy, user_id: UUID) -> None:
    login = tenancy.login("alice@example.com", PASSWORD)

    with recording(tenancy) as then:
        refreshed = tenancy.refresh(login.refresh_token)

    assert names(then) == ["Session.Refreshed"]
    assert refreshed.session_id == login.session_id
    assert refreshed.refresh_token != login.refresh_token
    assert then[0].refresh_hash == digest(refreshed.refresh_token.split(".")[1])
    # the new token works in turn
    assert tenancy.refresh(refreshed.refresh_token).session_id == login.session_id


def test_reusing_an_old_refresh_token_ends_the_session_and_raises(
    tenancy: Tenancy, user_id: UUID
) -> None:
    login = tenancy.login("alice@example.com", PASSWORD)
    current = tenancy.refresh(login.refresh_token)

    with recording(tenancy) as then, pytest.raises(TokenInvalidError) as error:
        tenancy.refresh(login.refresh_token)

    assert error.value.code == "auth.token_invalid"
    ended = one(then, Session.Ended)
    assert names(then) == ["Session.Ended"]
    assert ended.reason == "refresh_token_reused"
    assert not tenancy.session_is_active(login.session_id)
    # the thief's victim must sign in again: the current token is dead too
    with recording(tenancy) as after, pytest.raises(TokenInvalidError):
        tenancy.refresh(current.refresh_token)
    assert after == []


def test_an_unknown_refresh_token_is_refused_without_ending_the_session(
    tenancy: Tenancy, user_id: UUID
) -> None:
    login = tenancy.login("alice@example.com", PASSWORD)

    with recording(tenancy) as then, pytest.raises(TokenInvalidError):
        tenancy.refresh(f"{login.session_id.hex}.never-issued")

    assert then == []
    assert tenancy.session_is_active(login.session_id)


@pytest.mark.parametrize(
    "token",
    [
        f"{'0' * 32}.secret",  # no such session
        "zz.secret",  # not an id
    ],
)
def test_a_refresh_token_naming_no_session_is_invalid(
    tenancy: Tenancy, user_id: UUID, token: str
) -> None:
    with pytest.raises(TokenInvalidError):
        tenancy.refresh(token)


def test_a_refresh_token_naming_another_kind_of_aggregate_is_invalid(
    tenancy: Tenancy, user_id: UUID
) -> None:
    with pytest.raises(TokenInvalidError):
        tenancy.refresh(f"{user_id.hex}.secret")


@pytest.mark.parametrize("token", ["no-dot-at-all", "a.b.c", ".secret", ""])
def test_a_malformed_refresh_token_is_token_invalid_like_every_other_bad_refresh(
    tenancy: Tenancy, token: str
) -> None:
    """Every refresh failure is `auth.token_invalid` (401): clients re-authenticate on it.
    (A malformed token used to escape as `auth.link_invalid`, a 400.)"""
    with pytest.raises(TokenInvalidError):
        tenancy.refresh(token)


def test_logout_ends_the_session_once(tenancy: Tenancy, user_id: UUID) -> None:
    login = tenancy.login("alice@example.com", PASSWORD)

    with recording(tenancy) as then:
        result = tenancy.logout(login.session_id)

    assert result is not None
    ended = one(then, Session.Ended)
    assert ended.reason == "logout"
    assert not tenancy.session_is_active(login.session_id)
    with pytest.raises(TokenInvalidError):
        tenancy.refresh(login.refresh_token)

    with recording(tenancy) as again:
        assert tenancy.logout(login.session_id) is None
    assert again == []


def test_an_expired_session_refuses_its_current_token() -> None:
    session = Session(
        user_id=Session.create_id(),
        refresh_hash=digest("current"),
        expires_at=utcnow() - timedelta(seconds=1),
        user_agent=None,
    )
    session.collect_events()

    assert not session.is_active
    with pytest.raises(TokenInvalidError):
        session.check_refresh(digest("current"))
    assert session.collect_events() == []


def test_the_session_remembers_recent_tokens_as_reuse() -> None:
    session = Session(
        user_id=Session.create_id(),
        refresh_hash=digest("t0"),
        expires_at=utcnow() + REFRESH_TTL,
        user_agent=None,
    )
    for i in range(1, 6):
        assert session.check_refresh(digest(f"t{i - 1}"))
        session.refresh(digest(f"t{i}"), REFRESH_TTL)
    session.collect_events()

    assert session.check_refresh(digest("t2")) is False

    assert names(session.collect_events()) == ["Session.Ended"]
    assert not session.is_active


def test_an_unknown_session_is_not_active(tenancy: Tenancy) -> None:
    assert not tenancy.session_is_active(Session.create_id())
