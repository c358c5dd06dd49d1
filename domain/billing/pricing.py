"""What one tool call costs: the service's pricing, the call's outcome, the month's free quota.

Money is Decimal from end to end (prices are stored as strings in events); a float never
touches it. A call is charged when the server did the work: it answered, even with a tool
error. Calls the gateway or the transport failed (refused, timed out, lost) cost nothing,
yet are still recorded, so the usage figures count them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

ZERO = Decimal("0")


class CallStatus(StrEnum):
    OK = "ok"
    #: The server answered with `isError`: it ran, so the call is charged.
    TOOL_ERROR = "tool_error"
    #: The instance failed or vanished mid-call, or answered with a protocol error.
    UPSTREAM_ERROR = "upstream_error"
    TIMEOUT = "timeout"

    @property
    def chargeable(self) -> bool:
        return self in (CallStatus.OK, CallStatus.TOOL_ERROR)

    @property
    def succeeded(self) -> bool:
        return self is CallStatus.OK


@dataclass(frozen=True)
class Charge:
    unit_price: Decimal
    cost: Decimal
    currency: str
    #: Counted against the FREEMIUM monthly free quota instead of charged.
    free: bool = False


def free_quota(pricing: Mapping[str, Any]) -> int:
    """Free calls per tenant per calendar month (UTC); zero unless FREEMIUM."""
    if pricing.get("model") != "FREEMIUM":
        return 0
    return int(pricing.get("free_calls_per_month") or 0)


def charge_for(pricing: Mapping[str, Any], status: CallStatus, free_calls_used: int) -> Charge:
    """The charge for one call, given how many free calls the tenant used this month before it.

    `free_calls_used` is only consulted for FREEMIUM pricing.
    """
    currency = str(pricing.get("currency") or "USD")
    unit_price = Decimal(str(pricing.get("price_per_request") or "0"))
    if not status.chargeable or unit_price == ZERO:
        return Charge(unit_price, ZERO, currency)
    if free_calls_used < free_quota(pricing):
        return Charge(unit_price, ZERO, currency, free=True)
    return Charge(unit_price, unit_price, currency)
