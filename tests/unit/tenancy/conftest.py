"""Pure domain fixtures: a `Tenancy` on the in-memory recorder with a fake password hasher."""

from __future__ import annotations

import pytest

from domain.tenancy.application import Tenancy
from tests.unit.tenancy.gwt import new_tenancy


@pytest.fixture
def tenancy() -> Tenancy:
    return new_tenancy()
