"""Value types of tenancy: roles, scopes, and the rules for slugs and passwords."""

from __future__ import annotations

import re
from enum import StrEnum

from domain.shared.errors import InvalidInputError


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_RANKS = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class Scope(StrEnum):
    MCP_EXECUTE = "mcp:execute"
    MCP_READ = "mcp:read"
    DEPLOY_WRITE = "deploy:write"
    BILLING_READ = "billing:read"
    ADMIN = "admin"


class TenantKind(StrEnum):
    PERSONAL = "personal"
    TEAM = "team"


class Plan(StrEnum):
    FREE = "free"
    PRO = "pro"
    TEAM = "team"
    ENTERPRISE = "enterprise"


SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,37}[a-z0-9])$")
RESERVED_SLUGS = frozenset(
    {
        "admin",
        "api",
        "app",
        "docs",
        "help",
        "login",
        "logout",
        "me",
        "mcp",
        "mcps",
        "new",
        "root",
        "settings",
        "signup",
        "static",
        "support",
        "system",
        "t",
        "u",
        "www",
    }
)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256


def check_slug(slug: str, *, field: str = "slug") -> str:
    """Slugs name personal and team tenants in one namespace: lowercase, 3 to 39 characters."""
    if not SLUG_PATTERN.fullmatch(slug) or "--" in slug:
        raise InvalidInputError(
            "use 3-39 lowercase letters, digits or single hyphens, not at either end",
            field=field,
        )
    if slug in RESERVED_SLUGS:
        raise InvalidInputError(f"'{slug}' is reserved", field=field)
    return slug


def check_password(password: str, *, field: str = "password") -> str:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"use {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters", field=field
        )
    if password.isdigit() or (password.isalpha() and password.lower() == password):
        raise InvalidInputError("mix letters with digits, capitals or symbols", field=field)
    return password


def normalize_email(email: str) -> str:
    return email.strip().lower()
