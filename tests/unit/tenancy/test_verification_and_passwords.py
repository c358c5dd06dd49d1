"""Email verification and password links: single use, expiring, never leaking who exists."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from domain.shared.aggregate import utcnow
from domain.shared.errors import InvalidInputError
from domain.shared.sealed import Sealer
from domain.tenancy.application import Tenancy, digest
from domain.tenancy.errors import InvalidCredentialsError, LinkInvalidError
from domain.tenancy.tenants import Tenant
from domain.tenancy.users import RESET_TTL, User
from tests.unit.tenancy.gwt import PASSWORD, FakeHasher, names, one, recording, stored_states

NEW_PASSWORD = "N3w-passphrase!"


def a_user() -> User:
    user = User(
        email="alice@example.com",
        username="alice",
        password_hash="sealed:v1:x",
        personal_tenant_id=Tenant.create_id("alice"),
    )
    user.collect_events()
    return user


# --- email verification -------------------------------------------------------------------


def test_a_verification_link_verifies_the_email_once(tenancy: Tenancy) -> None:
    registration = tenancy.register_user("alice@example.com", "alice", PASSWORD)

    with recording(tenancy) as then:
        tenancy.verify_email(registration.verification_token)

    assert names(then) == ["User.EmailVerified"]
    assert then[0].originator_id == registration.user_id
    assert then[0].tenant_id == str(registration.tenant_id)

    with recording(tenancy) as again, pytest.raises(LinkInvalidError) as error:
        tenancy.verify_email(registration.verification_token)
    assert error.value.code == "auth.link_invalid"
    assert again == []


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token + "x",  # wrong secret
        lambda token: token.split(".")[0],  # no secret
        lambda token: "nothex." + token.split(".")[1],  # not an id
        lambda token: "0" * 32 + "." + token.split(".")[1],  # nobody's id
        lambda token: token + ".extra",  # too many parts
    ],
)
def test_a_mangled_verification_link_is_invalid(
    tenancy: Tenancy, mangle: Callable[[str], str]
) -> None:
    registration = tenancy.register_user("alice@example.com", "alice", PASSWORD)

    with recording(tenancy) as then, pytest.raises(LinkInvalidError):
        tenancy.verify_email(mangle(registration.verification_token))

    assert then == []


def test_a_new_verification_request_replaces_the_old_link(tenancy: Tenancy) -> None:
    registration = tenancy.register_user("alice@example.com", "alice", PASSWORD)

    with recording(tenancy) as then:
        link, result = tenancy.request_email_verification(registration.user_id)

    requested = one(then, User.VerificationRequested)
    assert requested.token_hash == digest(link.split(".")[1])
    assert result.version == requested.originator_version
    with pytest.raises(LinkInvalidError):
        tenancy.verify_email(registration.verification_token)
    tenancy.verify_email(link)


def test_an_expired_verification_link_is_refused(tenancy: Tenancy) -> None:
    # given a verification request that expired a second ago
    registration = tenancy.register_user("alice@example.com", "alice", PASSWORD)
    user = tenancy.user(registration.user_id)
    user.trigger_event(
        User.VerificationRequested,
        token_hash=digest("the-secret"),
        expires_at=utcnow() - timedelta(seconds=1),
    )
    tenancy.commit(user)

    # when its link is used, then it is refused and nothing is recorded
    with recording(tenancy) as then, pytest.raises(LinkInvalidError):
        tenancy.verify_email(f"{registration.user_id.hex}.the-secret")
    assert then == []


def test_an_unexpired_verification_matches_only_its_own_hash() -> None:
    user = a_user()
    user.trigger_event(
        User.VerificationRequested,
        token_hash=digest("right"),
        expires_at=utcnow() + timedelta(minutes=1),
    )
    user.collect_events()

    with pytest.raises(LinkInvalidError):
        user.verify_email(digest("wrong"))
    assert user.collect_events() == []

    user.verify_email(digest("right"))
    assert names(user.collect_events()) == ["User.EmailVerified"]


def test_a_verified_user_cannot_request_another_verification() -> None:
    user = a_user()
    user.request_verification(digest("s"))
    user.verify_email(digest("s"))
    user.collect_events()

    with pytest.raises(LinkInvalidError):
        user.request_verification(digest("t"))
    assert user.collect_events() == []


# --- password reset -----------------------------------------------------------------------


def test_a_reset_for_an_unknown_email_is_none_and_records_nothing(tenancy: Tenancy) -> None:
    tenancy.register_user("alice@example.com", "alice", PASSWORD)

    with recording(tenancy) as then:
        assert tenancy.request_password_reset("nobody@example.com") is None

    assert then == []


def test_a_reset_link_changes_the_password_once(tenancy: Tenancy) -> None:
    registration = tenancy.register_user("alice@example.com", "alice", PASSWORD)

    with recording(tenancy) as requested:
        answer = tenancy.request_password_reset(" ALICE@example.com ")
    assert answer is not None
    user, link = answer
    assert user.id == registration.user_id
    reset = one(requested, User.PasswordResetRequested)
    assert reset.token_hash == digest(link.split(".")[1])
    assert timedelta(0) < reset.expires_at - utcnow() <= RESET_TTL

    with recording(tenancy) as then:
        tenancy.reset_password(link, NEW_PASSWORD)

    changed = one(then, User.PasswordChanged)
    assert names(then) == ["User.PasswordChanged"]
    assert changed.via == "reset"
    assert Sealer.is_sealed(changed.password_hash)
    assert tenancy.sealer.open(changed.password_hash) == FakeHasher().hash(NEW_PASSWORD)
    for state in stored_states(tenancy):
        assert NEW_PASSWORD.encode() not in state
        assert FakeHasher().hash(NEW_PASSWORD).encode() not in state
    # the new password signs in, the old one does not
    tenancy.login("alice@example.com", NEW_PASSWORD)
    with pytest.raises(InvalidCredentialsError):
        tenancy.login("alice@example.com", PASSWORD)

    with recording(tenancy) as again, pytest.raises(LinkInvalidError):
        tenancy.reset_password(link, "An0ther-passphrase")
    assert again == []


def test_a_reset_proves_the_mailbox_so_the_email_counts_as_verified(tenancy: Tenancy) -> None:
    registration = tenancy.register_user("alice@example.com", "alice", PASSWORD)
    answer = tenancy.request_password_reset("alice@example.com")
    assert answer is not None

    tenancy.reset_password(answer[1], NEW_PASSWORD)

    # the pending verification link is now refused: the address is already verified
    with pytest.raises(LinkInvalidError):
        tenancy.verify_email(registration.verification_token)


def test_a_newer_reset_request_invalidates_the_older_link(tenancy: Tenancy) -> None:
    tenancy.register_user("alice@example.com", "alice", PASSWORD)
    first = tenancy.request_password_reset("alice@example.com")
    second = tenancy.request_password_reset("alice@example.com")
    assert first is not None and second is not None

    with pytest.raises(LinkInvalidError):
        tenancy.reset_password(first[1], NEW_PASSWORD)
    tenancy.reset_password(second[1], NEW_PASSWORD)


def test_an_expired_reset_link_is_refused() -> None:
    user = a_user()
    user.trigger_event(
        User.PasswordResetRequested,
        token_hash=digest("s"),
        expires_at=utcnow() - timedelta(seconds=1),
    )
    user.collect_events()

    with pytest.raises(LinkInvalidError):
        user.reset_password(digest("s"), "sealed:v1:new")
    assert user.collect_events() == []


def test_a_weak_new_password_is_refused_before_the_link_is_spent(tenancy: Tenancy) -> None:
    tenancy.register_user("alice@example.com", "alice", PASSWORD)
    answer = tenancy.request_password_reset("alice@example.com")
    assert answer is not None

    with recording(tenancy) as then, pytest.raises(InvalidInputError) as error:
        tenancy.reset_password(answer[1], "weak")
    assert error.value.field == "password"
    assert then == []
    tenancy.reset_password(answer[1], NEW_PASSWORD)


def test_changing_the_password_needs_the_current_one(tenancy: Tenancy) -> None:
    user_id = tenancy.register_user("alice@example.com", "alice", PASSWORD).user_id

    with recording(tenancy) as refused, pytest.raises(InvalidCredentialsError) as error:
        tenancy.change_password(user_id, "Wr0ng-password", NEW_PASSWORD)
    assert error.value.code == "auth.invalid_credentials"
    assert error.value.field == "old_password"
    assert refused == []

    with recording(tenancy) as weak, pytest.raises(InvalidInputError) as invalid:
        tenancy.change_password(user_id, PASSWORD, "weak")
    assert invalid.value.field == "new_password"
    assert weak == []

    with recording(tenancy) as then:
        tenancy.change_password(user_id, PASSWORD, NEW_PASSWORD)
    changed = one(then, User.PasswordChanged)
    assert changed.via == "change"
    assert Sealer.is_sealed(changed.password_hash)
    tenancy.login("alice@example.com", NEW_PASSWORD)


def test_a_password_change_spends_a_pending_reset_link(tenancy: Tenancy) -> None:
    user_id = tenancy.register_user("alice@example.com", "alice", PASSWORD).user_id
    answer = tenancy.request_password_reset("alice@example.com")
    assert answer is not None

    tenancy.change_password(user_id, PASSWORD, NEW_PASSWORD)

    with pytest.raises(LinkInvalidError):
        tenancy.reset_password(answer[1], "An0ther-passphrase")


# --- sign in --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "password"),
    [("alice@example.com", "Wr0ng-password"), ("nobody@example.com", PASSWORD)],
)
def test_a_wrong_email_or_password_gives_the_same_answer(
    tenancy: Tenancy, email: str, password: str
) -> None:
    tenancy.register_user("alice@example.com", "alice", PASSWORD)

    with recording(tenancy) as then, pytest.raises(InvalidCredentialsError) as error:
        tenancy.login(email, password)

    assert error.value.code == "auth.invalid_credentials"
    assert str(error.value) == "wrong email or password"
    assert then == []
