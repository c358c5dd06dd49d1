"""Fixtures shared by integration modules."""

from tests.integration.security_world import world  # noqa: F401 - a module-scoped fixture
