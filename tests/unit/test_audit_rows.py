"""The audit row built from an event's stored JSON equals the one built from the decoded event.

Workers hand the audit projection envelopes from `AuditProjection.stored_decoder`, which reads
the state's JSON without rebuilding the domain event; `audit_row` of the decoded event is the
reference. Every event class in `domain` is drawn, with values of each field's annotated type
(and, where the type allows, the awkward ones: sealed secrets, `*_hash` fields, nested UUIDs and
datetimes, integers beyond 64 bits, floats, non-ASCII text), stored with the store's own mapper.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import typing
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import domain
from domain.billing.calls import Call
from domain.shared.application import BaseApplication
from domain.tenancy.tokens import ApiToken
from projections.audit import AuditedEvent, AuditProjection, audit_row
from projections.base import Envelope

for _module in pkgutil.walk_packages(domain.__path__, "domain."):
    importlib.import_module(_module.name)


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _stored_classes() -> list[type]:
    """Every event class of `domain` that a stored topic resolves to (the library makes a
    few look-alike classes while it builds aggregates: those never reach the store, and
    `get_topic` on one would register it in their place)."""
    topics = {
        f"{cls.__module__}:{cls.__qualname__}"
        for cls in _subclasses(DomainEvent)
        if cls.__module__.startswith("domain.")
    }
    return [resolve_topic(topic) for topic in sorted(topics)]


EVENT_CLASSES = _stored_classes()
MAPPER = BaseApplication().mapper
SEALED = "sealed:v1:c2VjcmV0"  # what `Sealer.seal` writes; `Sealer.is_sealed` checks the prefix

datetimes = st.datetimes(timezones=st.just(UTC))
texts = st.one_of(st.text(max_size=12), st.just(SEALED), st.just("ünïcødé \\ \t \n"))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
    st.uuids(),
    datetimes,
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _values(hint: Any) -> st.SearchStrategy[Any]:
    """Values of an annotated field type, awkward ones included."""
    if hint is str:
        return texts
    if hint is int:
        return st.integers(-(2**70), 2**70)
    if hint is bool:
        return st.booleans()
    if hint is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if hint is UUID:
        return st.uuids()
    if hint is datetime:
        return datetimes
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return st.one_of(*(_values(a) for a in args))
    if hint is type(None):
        return st.none()
    if origin is list:
        return st.lists(_values(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(st.text(max_size=6), json_values, max_size=4)
    return json_values


def _fields(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {
        name: hint
        for name, hint in hints.items()
        if typing.get_origin(hint) is not typing.ClassVar
        and name not in ("originator_id", "originator_version")
    }


@st.composite
def stored_events(draw: st.DrawFn, classes: list[type] = EVENT_CLASSES) -> StoredEvent:
    cls = draw(st.sampled_from(classes))
    state = {name: draw(_values(hint)) for name, hint in _fields(cls).items()}
    if "timestamp" in state:
        state["timestamp"] = draw(datetimes)
    event = object.__new__(cls)
    object.__setattr__(
        event, "__dict__", {**state, "originator_id": uuid4(), "originator_version": 3}
    )
    return MAPPER.to_stored_event(event)  # type: ignore[arg-type]


def _comparable(row: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    """A row with its payload as canonical JSON text: jsonb tells `true` from `1` and `1.0`."""
    if row is None:
        return None
    *columns, data = row
    return (*columns, json.dumps(json.loads(data), sort_keys=True))


def _slow_and_fast(stored: StoredEvent) -> tuple[Any, Any]:
    projection = AuditProjection()
    decoded = MAPPER.to_domain_event(stored)
    slow = audit_row(Envelope(7, decoded)) if projection.wants(decoded) else None
    envelope = projection.stored_decoder(MAPPER)(
        7, stored.originator_id, stored.originator_version, stored.topic, stored.state
    )
    assert envelope.event.originator_id == stored.originator_id
    assert envelope.event.originator_version == stored.originator_version
    fast = audit_row(envelope) if projection.wants(envelope.event) else None
    return _comparable(slow), _comparable(fast)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(stored_events())
def test_the_row_from_the_stored_form_equals_the_row_from_the_event(stored: StoredEvent) -> None:
    slow, fast = _slow_and_fast(stored)
    assert fast == slow


def test_every_event_class_takes_the_fast_way_with_plain_values() -> None:
    """Not a fallback in disguise: with plain strings, ints and ids, no class goes slow."""
    plain = {str: "a", int: 1, bool: True, UUID: uuid4(), datetime: datetime.now(UTC)}
    decode = AuditProjection().stored_decoder(MAPPER)
    for cls in EVENT_CLASSES:
        state = {}
        for name, hint in _fields(cls).items():
            options = [hint, *typing.get_args(hint)]
            state[name] = next((plain[h] for h in options if h in plain), None)
        event = object.__new__(cls)
        object.__setattr__(
            event, "__dict__", {**state, "originator_id": uuid4(), "originator_version": 1}
        )
        stored = MAPPER.to_stored_event(event)  # type: ignore[arg-type]
        envelope = decode(1, stored.originator_id, 1, stored.topic, stored.state)
        assert type(envelope.event) is AuditedEvent, cls
        slow, fast = _slow_and_fast(stored)
        assert fast == slow, cls


def test_billed_calls_stay_out_without_being_read() -> None:
    decode = AuditProjection().stored_decoder(MAPPER)
    envelope = decode(1, uuid4(), 1, get_topic(Call.Billed), b"not even JSON")
    assert not AuditProjection().wants(envelope.event)


def test_secrets_and_hashes_stay_redacted() -> None:
    event = object.__new__(ApiToken.Issued)
    object.__setattr__(
        event,
        "__dict__",
        {
            "originator_id": uuid4(),
            "originator_version": 1,
            "timestamp": datetime.now(UTC),
            "token_hash": "abc",
            "secret": SEALED,
            "nested": {"id": uuid4()},
        },
    )
    stored = MAPPER.to_stored_event(event)  # type: ignore[arg-type]
    envelope = AuditProjection().stored_decoder(MAPPER)(
        1, stored.originator_id, 1, stored.topic, stored.state
    )
    assert type(envelope.event) is AuditedEvent
    payload = json.loads(audit_row(envelope)[-1])
    assert payload["token_hash"] == "[redacted]"
    assert payload["secret"] == "[redacted]"
    assert isinstance(payload["nested"]["id"], str)
