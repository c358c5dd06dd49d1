"""Rules for free-form JSON that reaches an event and then a read model's `jsonb` column."""

from __future__ import annotations

from typing import Any


def contains_nul(value: Any) -> bool:
    """True if a NUL character is in any string or key: PostgreSQL's jsonb cannot hold one,
    so such a value in an event would stall every projector that copies it."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(item) for item in value)
    return False
