"""The orjson transcoder writes what the library's JSON transcoder writes, and reads the same."""

from __future__ import annotations

import enum
import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from hypothesis import given
from hypothesis import strategies as st

from infra.transcoder import OrjsonTranscoder


class Colour(enum.StrEnum):
    RED = "red"


class Size(enum.IntEnum):
    LARGE = 3


def registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


LIBRARY = registered(JSONTranscoder())
OURS = registered(OrjsonTranscoder())

_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.text(),
    st.uuids(),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))])),
    st.decimals(allow_nan=False),
    st.sampled_from([Colour.RED, Size.LARGE]),
)
_states = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8), _states, max_size=8))
def test_the_same_bytes_as_the_library_for_states_without_floats(state: dict[str, Any]) -> None:
    assert OURS.encode(state) == LIBRARY.encode(state)


@given(st.dictionaries(st.text(max_size=8), st.floats(allow_nan=False), max_size=6))
def test_floats_read_back_the_same(state: dict[str, float]) -> None:
    # Only the notation may differ (`json` writes 1e+16, orjson 1e16): the numbers do not.
    assert OURS.decode(OURS.encode(state)) == LIBRARY.decode(LIBRARY.encode(state))


@pytest.mark.parametrize(
    "state",
    [
        {"x": math.nan},
        {"x": [math.inf, -math.inf]},
        {"x": 2**70},
        {"x": {1: "a"}},
        {"x": {None: "a", 2.5: "b"}},
    ],
    ids=["nan", "infinities", "beyond-64-bits", "int-key", "other-keys"],
)
def test_what_orjson_writes_differently_is_written_by_the_library(state: dict[str, Any]) -> None:
    assert OURS.encode(state) == LIBRARY.encode(state)


def test_a_type_without_a_transcoding_is_refused_as_the_library_refuses_it() -> None:
    with pytest.raises(TranscodingNotRegisteredError):
        OURS.encode({"when": datetime.now(UTC).date()})


def test_events_read_back_as_written() -> None:
    state = {
        "originator_id": UUID(int=7),
        "at": datetime(2026, 11, 21, 14, 0, tzinfo=UTC),
        "price": Decimal("0.0010"),
        "scopes": ["mcp:read", Colour.RED],
        "size": Size.LARGE,
    }
    read = OURS.decode(OURS.encode(state))
    assert read == {**state, "scopes": ["mcp:read", "red"], "size": 3}
    assert type(read["originator_id"]) is UUID and type(read["price"]) is Decimal
