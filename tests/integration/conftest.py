"""Fixtures shared by integration modules."""

import pytest

from tests.integration.security_world import world  # noqa: F401 - a module-scoped fixture
from tests.support import require_env


@pytest.fixture
def anyio_backend() -> str:
    """The event loop of `pytest.mark.anyio` tests: asyncio's, as the product runs on."""
    return "asyncio"


@pytest.fixture
def redis_url() -> str:
    return require_env("REDIS_URL")
