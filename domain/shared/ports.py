"""What the domain needs from outside, as protocols; the composition root plugs them in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import Recording


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...


class Committer(Protocol):
    """Records the events of one command; may share a transaction with concurrent commands."""

    def record(
        self, app: Any, processing_event: ProcessingEvent[Any]
    ) -> Sequence[Recording[Any]]: ...
