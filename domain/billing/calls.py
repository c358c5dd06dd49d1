"""`Call`: one gateway tool call, recorded once, when it is billed.

A call is an aggregate of one event. Its id is random, or derived from the caller's
`Idempotency-Key` (per tenant), so a repeated key cannot be billed twice: the store refuses
the second `Billed` with the same id. For keyed calls the event also keeps the response
(sealed), so the repeat answers with the first result.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from domain.shared.aggregate import BaseAggregate, deterministic_id


class Call(BaseAggregate):
    class Billed(BaseAggregate.Created):
        deployment_id: str
        deployment: str
        service_id: str
        service: str
        version: str
        tool: str
        #: The API token that made the call; None for a signed-in user's session.
        token_id: str | None
        instance_id: str | None
        status: str
        error_code: str | None
        duration_us: int
        request_bytes: int
        response_bytes: int
        unit_price: str
        cost: str
        currency: str
        free: bool
        idempotency_key: str | None
        #: The response as the caller got it, sealed; kept only for keyed calls.
        response: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.billed = self

    # The aggregate's state is its one event: `self.billed` (set by `Billed.apply`). It is
    # not annotated here, as the library would take an annotation for an `__init__` argument.

    @staticmethod
    def create_id(tenant_id: UUID, idempotency_key: str | None) -> UUID:
        if idempotency_key is None:
            return uuid4()
        return deterministic_id("call", f"{tenant_id}/{idempotency_key}")
