"""Password hashing with argon2id (the library's tuned defaults)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Argon2Hasher:
    def __init__(self, **cost: int) -> None:
        """`cost` overrides argon2's tuned defaults (time_cost, memory_cost, parallelism)."""
        self._hasher = PasswordHasher(**cost)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
