"""Registration: a user, their personal tenant and a verification request, in one save."""

from __future__ import annotations

from datetime import timedelta

import pytest
from eventsourcing.domain import Aggregate

from domain.shared.aggregate import deterministic_id, utcnow
from domain.shared.application import CommandResult
from domain.shared.context import bound
from domain.shared.errors import InvalidInputError
from domain.shared.sealed import Sealer
from domain.tenancy.application import Tenancy, digest
from domain.tenancy.errors import EmailTakenError, SlugTakenError
from domain.tenancy.tenants import Tenant
from domain.tenancy.users import VERIFICATION_TTL, User
from domain.tenancy.values import Role, TenantKind
from tests.unit.tenancy.gwt import (
    PASSWORD,
    FakeHasher,
    head,
    names,
    one,
    recording,
    stored_states,
)


def test_registering_creates_the_user_their_personal_tenant_and_a_verification_request(
    tenancy: Tenancy,
) -> None:
    # when
    with recording(tenancy) as then:
        result = tenancy.register_user("  Alice@Example.COM ", "alice", PASSWORD)

    # then
    assert names(then) == ["User.Registered", "User.VerificationRequested", "Tenant.Created"]
    registered = one(then, User.Registered)
    assert registered.originator_id == result.user_id
    assert registered.email == "alice@example.com"
    assert registered.username == "alice"
    assert registered.personal_tenant_id == result.tenant_id
    created = one(then, Tenant.Created)
    assert created.originator_id == result.tenant_id == Tenant.create_id("alice")
    assert (created.slug, created.name, created.kind) == ("alice", "alice", TenantKind.PERSONAL)
    assert (created.owner_id, created.owner_username, created.owner_email) == (
        result.user_id,
        "alice",
        "alice@example.com",
    )
    requested = one(then, User.VerificationRequested)
    user_hex, secret = result.verification_token.split(".")
    assert user_hex == result.user_id.hex
    assert requested.token_hash == digest(secret)
    assert timedelta(0) < requested.expires_at - utcnow() <= VERIFICATION_TTL
    # every event of the registration is attributed to the new personal tenant
    assert {e.tenant_id for e in then} == {str(result.tenant_id)}
    assert result.position == head(tenancy)


def test_the_password_is_stored_sealed_never_in_clear_nor_as_the_raw_hash(
    tenancy: Tenancy,
) -> None:
    raw_hash = FakeHasher().hash(PASSWORD)

    with recording(tenancy) as then:
        tenancy.register_user("alice@example.com", "alice", PASSWORD)

    registered = one(then, User.Registered)
    assert Sealer.is_sealed(registered.password_hash)
    assert tenancy.sealer.open(registered.password_hash) == raw_hash
    for event in then:
        for value in vars(event).values():
            assert PASSWORD not in str(value)
            assert raw_hash not in str(value)
    for state in stored_states(tenancy):
        assert PASSWORD.encode() not in state
        assert raw_hash.encode() not in state


def test_the_same_email_always_maps_to_the_same_user_id(tenancy: Tenancy) -> None:
    assert User.create_id("alice@example.com") == deterministic_id("user", "alice@example.com")
    assert Tenant.create_id("alice") == deterministic_id("tenant", "alice")
    assert User.create_id("alice@example.com") != User.create_id("bob@example.com")

    result = tenancy.register_user("ALICE@example.com", "alice", PASSWORD)

    assert result.user_id == User.create_id("alice@example.com")
    assert result.tenant_id == Tenant.create_id("alice")


def test_an_email_registers_once_whatever_its_case(tenancy: Tenancy) -> None:
    tenancy.register_user("alice@example.com", "alice", PASSWORD)

    with recording(tenancy) as then, pytest.raises(EmailTakenError) as error:
        tenancy.register_user(" Alice@EXAMPLE.com", "alice2", PASSWORD)

    assert error.value.code == "user.email_taken"
    assert error.value.field == "email"
    assert then == []


def test_a_username_is_a_slug_shared_with_teams(tenancy: Tenancy) -> None:
    owner = tenancy.register_user("alice@example.com", "alice", PASSWORD).user_id
    tenancy.create_team(owner, "acme", "Acme")

    for username in ("alice", "acme"):
        with recording(tenancy) as then, pytest.raises(SlugTakenError) as error:
            tenancy.register_user(f"other-{username}@example.com", username, PASSWORD)
        assert error.value.code == "tenant.slug_taken"
        assert error.value.field == "username"
        assert then == []


def test_a_store_level_clash_is_reported_as_taken_and_saves_nothing(tenancy: Tenancy) -> None:
    # given a tenant that the friendly pre-check cannot see yet (it lost a race, in effect)
    tenancy.register_user("alice@example.com", "alice", PASSWORD)
    clash = Tenant(
        slug="bob",
        name="bob",
        kind=TenantKind.PERSONAL.value,
        owner_id=User.create_id("x@example.com"),
        owner_username="bob",
        owner_email="x@example.com",
    )

    class RacingTenancy(Tenancy):
        """Saves the clashing tenant between the pre-check and the save, like a racing request."""

        raced = False

        def commit(self, *aggregates: Aggregate | None) -> CommandResult:
            if not self.raced:
                self.raced = True
                super().commit(clash)
            return super().commit(*aggregates)

    racing = RacingTenancy(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        hasher=FakeHasher(),
        sealer=tenancy.sealer,
    )

    with recording(racing) as then, pytest.raises(EmailTakenError):
        racing.register_user("bob@example.com", "bob", PASSWORD)

    # only the racer's tenant was stored: the user and its verification request were not
    assert names(then) == ["Tenant.Created"]
    assert racing.user_by_email("bob@example.com") is None


@pytest.mark.parametrize(
    ("email", "username", "password", "field"),
    [
        ("a@example.com", "Al", PASSWORD, "username"),
        ("a@example.com", "admin", PASSWORD, "username"),
        ("a@example.com", "alice", "short1A", "password"),
        ("a@example.com", "alice", "alllowercaseletters", "password"),
    ],
)
def test_invalid_registrations_are_refused_before_anything_is_stored(
    tenancy: Tenancy, email: str, username: str, password: str, field: str
) -> None:
    with recording(tenancy) as then, pytest.raises(InvalidInputError) as error:
        tenancy.register_user(email, username, password)

    assert error.value.code == "invalid_input"
    assert error.value.field == field
    assert then == []


def test_event_metadata_comes_from_the_bound_context(tenancy: Tenancy) -> None:
    context = {
        "actor": "user:someone",
        "request_id": "req-1",
        "correlation_id": "corr-1",
        "causation_id": "cause-1",
        "client_ip": "203.0.113.7",
    }

    with recording(tenancy) as then, bound(**context):
        result = tenancy.register_user("alice@example.com", "alice", PASSWORD)

    for event in then:
        for key, value in context.items():
            assert getattr(event, key) == value
        # the command binds its own tenant over whatever the caller had
        assert event.tenant_id == str(result.tenant_id)

    # outside the block, the defaults are back
    with recording(tenancy) as later:
        tenancy.create_team(result.user_id, "acme", "Acme")
    created = one(later, Tenant.Created)
    assert created.actor == "system:unknown"
    assert created.request_id is None
    assert created.client_ip is None
    assert created.tenant_id == str(Tenant.create_id("acme"))


def test_bound_restores_outer_values_when_nested() -> None:
    with bound(actor="user:outer", request_id="r-outer"):
        with bound(actor="user:inner"):
            inner = User(
                email="a@example.com",
                username="alice",
                password_hash="sealed:v1:x",
                personal_tenant_id=Tenant.create_id("alice"),
            )
        outer = User(
            email="b@example.com",
            username="bob",
            password_hash="sealed:v1:x",
            personal_tenant_id=Tenant.create_id("bob"),
        )

    (inner_event,) = inner.collect_events()
    (outer_event,) = outer.collect_events()
    assert (inner_event.actor, inner_event.request_id) == ("user:inner", "r-outer")
    assert (outer_event.actor, outer_event.request_id) == ("user:outer", "r-outer")


def test_team_creation_makes_the_creator_its_owner(tenancy: Tenancy) -> None:
    owner = tenancy.register_user("alice@example.com", "alice", PASSWORD).user_id

    with recording(tenancy) as then:
        result = tenancy.create_team(owner, "acme", "Acme Inc")

    created = one(then, Tenant.Created)
    assert names(then) == ["Tenant.Created"]
    assert result.id == created.originator_id == Tenant.create_id("acme")
    assert result.version == 1
    assert (created.slug, created.name, created.kind) == ("acme", "Acme Inc", TenantKind.TEAM)
    assert (created.owner_id, created.owner_username, created.owner_email) == (
        owner,
        "alice",
        "alice@example.com",
    )
    assert tenancy.tenant(result.id).role_of(owner) == Role.OWNER
