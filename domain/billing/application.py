"""Recording tool calls: one `Call.Billed` per call, durable before the caller hears back.

Concurrent calls share one store transaction through the application's committer (group
commit), so billing every call does not cap the gateway's throughput.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.billing.calls import Call
from domain.billing.pricing import CallStatus, Charge
from domain.shared.application import BaseApplication
from domain.shared.ports import Committer
from domain.shared.sealed import Sealer


@dataclass(frozen=True)
class CallRecord:
    """Everything the gateway knows about a finished call."""

    call_id: UUID
    deployment_id: UUID
    deployment: str
    service_id: UUID
    service: str
    version: str
    tool: str
    token_id: UUID | None
    instance_id: str | None
    status: CallStatus
    error_code: str | None
    duration_us: int
    request_bytes: int
    response_bytes: int
    charge: Charge
    idempotency_key: str | None = None
    #: The response body, kept (sealed) only for calls with an idempotency key.
    response: dict[str, Any] | None = None


class AlreadyBilledError(Exception):
    """A call with this id (the same idempotency key) was billed first by someone else."""


class Billing(BaseApplication):
    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        sealer: Sealer,
        committer: Committer | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, committer=committer, **kwargs)
        self.sealer = sealer

    def bill(self, record: CallRecord) -> int:
        """Append the call's `Billed` event; its log position once durable.

        Raises `AlreadyBilledError` when the call id is taken (a repeated idempotency key).
        """
        try:
            recordings = self.save(self._billed(record))
        except IntegrityError:
            raise AlreadyBilledError(str(record.call_id)) from None
        return recordings[-1].notification.id

    def bill_many(self, records: list[CallRecord]) -> list[int | AlreadyBilledError]:
        """Append every call's `Billed` event in one transaction; for each, its log position
        once durable or `AlreadyBilledError`. When one id is taken the batch is retried one
        call at a time, so only the repeated ones fail."""
        try:
            recordings = self.save(*(self._billed(record) for record in records))
        except IntegrityError:
            outcomes: list[int | AlreadyBilledError] = []
            for record in records:
                try:
                    outcomes.append(self.bill(record))
                except AlreadyBilledError as taken:
                    outcomes.append(taken)
            return outcomes
        return [recording.notification.id for recording in recordings]

    def _billed(self, record: CallRecord) -> Call:
        charge = record.charge
        response = None
        if record.idempotency_key is not None and record.response is not None:
            response = self.sealer.seal(json.dumps(record.response, separators=(",", ":")))
        return Call._create(
            Call.Billed,
            id=record.call_id,
            deployment_id=str(record.deployment_id),
            deployment=record.deployment,
            service_id=str(record.service_id),
            service=record.service,
            version=record.version,
            tool=record.tool,
            token_id=str(record.token_id) if record.token_id else None,
            instance_id=record.instance_id,
            status=record.status.value,
            error_code=record.error_code,
            duration_us=record.duration_us,
            request_bytes=record.request_bytes,
            response_bytes=record.response_bytes,
            unit_price=str(charge.unit_price),
            cost=str(charge.cost),
            currency=charge.currency,
            free=charge.free,
            idempotency_key=record.idempotency_key,
            response=response,
        )

    def billed(self, call_id: UUID) -> Call.Billed | None:
        """The billed call with this id, if there is one."""
        try:
            call: Any = self.repository.get(call_id)
        except AggregateNotFoundError:
            return None
        if not isinstance(call, Call):
            return None
        billed: Call.Billed = call.billed  # type: ignore[attr-defined]  # set by Billed.apply
        return billed

    def first_response(self, billed: Call.Billed) -> dict[str, Any] | None:
        if billed.response is None:
            return None
        opened: dict[str, Any] = json.loads(self.sealer.open(billed.response))
        return opened
