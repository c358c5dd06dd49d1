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
        outcome = self.save_billed([self.billed_event(record)])[0]
        if isinstance(outcome, AlreadyBilledError):
            raise outcome
        return outcome

    def save_billed(self, events: list[Call.Billed]) -> list[int | AlreadyBilledError]:
        """Append every call's `Billed` event in one transaction; for each, its log position
        once durable or `AlreadyBilledError`. When one id is taken the batch is retried one
        call at a time, so only the repeated ones fail. (Events, not aggregates: saving an
        aggregate takes its pending events, so a retry of the aggregate would save nothing.)"""
        try:
            recordings = self.save(*events)
        except IntegrityError:
            if len(events) == 1:
                return [AlreadyBilledError(str(events[0].originator_id))]
            return [outcome for event in events for outcome in self.save_billed([event])]
        return [recording.notification.id for recording in recordings]

    def billed_event(self, record: CallRecord) -> Call.Billed:
        """The call's `Billed` event, ready to save. It takes the tenant, actor and request
        ids of the context it is made in: make it in the caller's."""
        event: Call.Billed = self._billed(record).collect_events()[0]  # type: ignore[assignment]
        return event

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
