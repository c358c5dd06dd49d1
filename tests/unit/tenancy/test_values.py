"""Slugs, passwords, emails and roles: the value rules of tenancy."""

from __future__ import annotations

import pytest

from domain.shared.errors import InvalidInputError
from domain.tenancy.values import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    RESERVED_SLUGS,
    Role,
    check_password,
    check_slug,
    normalize_email,
)


@pytest.mark.parametrize(
    "slug", ["abc", "a1b", "acme-inc", "a-b-c", "123", "a" * 39, "x9" + "-y" * 18 + "z"]
)
def test_valid_slugs(slug: str) -> None:
    assert check_slug(slug) == slug


@pytest.mark.parametrize(
    "slug",
    [
        "",
        "ab",  # too short
        "a" * 40,  # too long
        "-abc",
        "abc-",
        "ab--c",
        "Acme",
        "ac me",
        "ac_me",
        "acmé",
    ],
)
def test_invalid_slugs(slug: str) -> None:
    with pytest.raises(InvalidInputError) as error:
        check_slug(slug)
    assert error.value.field == "slug"
    assert error.value.code == "invalid_input"


@pytest.mark.parametrize("slug", ["acme\n", "alice\n"])
def test_a_trailing_newline_is_not_part_of_a_valid_slug(slug: str) -> None:
    """`$` also matches before a final newline, so `SLUG_PATTERN.match` let 'acme\\n' pass and
    name a second tenant beside 'acme'; `fullmatch` does not."""
    with pytest.raises(InvalidInputError):
        check_slug(slug)


@pytest.mark.parametrize("slug", sorted(s for s in RESERVED_SLUGS if len(s) >= 3))
def test_reserved_slugs(slug: str) -> None:
    with pytest.raises(InvalidInputError, match="reserved"):
        check_slug(slug, field="username")


def test_the_field_at_fault_is_named_by_the_caller() -> None:
    with pytest.raises(InvalidInputError) as error:
        check_slug("no", field="username")
    assert error.value.field == "username"


@pytest.mark.parametrize(
    "password",
    [
        "Abcdefghij",  # a capital is enough
        "abcdefghi1",
        "abcdefghi!",
        "0123456789a",
        "x" * (MAX_PASSWORD_LENGTH - 1) + "1",
        "Aa1!" * 3,
    ],
)
def test_acceptable_passwords(password: str) -> None:
    assert check_password(password) == password


@pytest.mark.parametrize(
    "password",
    [
        "",
        "Ab1!" + "x" * (MIN_PASSWORD_LENGTH - 5),  # one short
        "x" * MAX_PASSWORD_LENGTH + "1",  # one long
        "0123456789",  # digits only
        "abcdefghij",  # lowercase letters only
    ],
)
def test_weak_passwords(password: str) -> None:
    with pytest.raises(InvalidInputError) as error:
        check_password(password, field="new_password")
    assert error.value.field == "new_password"


def test_password_length_bounds_are_inclusive() -> None:
    check_password("Ab1" + "x" * (MIN_PASSWORD_LENGTH - 3))
    check_password("Ab1" + "x" * (MAX_PASSWORD_LENGTH - 3))


def test_emails_are_trimmed_and_lowercased() -> None:
    assert normalize_email("  Alice@Example.COM\t") == "alice@example.com"


def test_roles_rank_viewer_member_admin_owner() -> None:
    order = [Role.VIEWER, Role.MEMBER, Role.ADMIN, Role.OWNER]
    for i, lower in enumerate(order):
        for higher in order[i:]:
            assert higher.at_least(lower)
        for higher in order[i + 1 :]:
            assert not lower.at_least(higher)
