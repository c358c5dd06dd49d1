"""The store's JSON transcoder: the library's format, written by orjson.

eventsourcing's `JSONTranscoder` writes an event's state with the standard `json` encoder,
which calls back into Python for every UUID, datetime and decimal (a cheap command's event
has four) and builds a new C encoder on each call. This one writes the same bytes in about
half the time: one pass puts the library's tagged objects (`{"_type_": "uuid_hex", "_data_":
...}`) in place, then orjson writes plain JSON. Whatever orjson would write differently from
`json` goes to the library's own encoder: NaN and infinities (`json` writes `NaN`, orjson
`null`), integers beyond 64 bits, dict keys that are not strings. Reading is the library's,
unchanged, so every event stored before reads the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder, Transcoding

# Types both encoders write as they are.
_PLAIN = frozenset({str, int, bool, type(None)})
_JSON_TYPES = (str, int, float, list, tuple, dict)


class _NotPlain(Exception):
    """The state holds something only the library's encoder writes as it does."""


class OrjsonTranscoder(JSONTranscoder):
    def __init__(self) -> None:
        super().__init__()
        # Registered types `json` hands to the transcoding: not subclasses of a JSON type.
        self._tags: dict[type, Transcoding] = {}

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        if not issubclass(transcoding.type, _JSON_TYPES):
            self._tags[transcoding.type] = transcoding

    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(self._tagged(obj))
        except (_NotPlain, orjson.JSONEncodeError):
            return super().encode(obj)

    def _tagged(self, value: Any) -> Any:
        """`value` with every object JSON has no type for replaced by the library's tag."""
        kind = type(value)
        if kind in _PLAIN:
            return value
        tags = self._tags
        if kind is dict:
            tagged = {}
            # Written out for an event's state, mostly strings, numbers and a few UUIDs.
            for key, item in value.items():
                if type(key) is not str:
                    raise _NotPlain
                if type(item) in _PLAIN:
                    tagged[key] = item
                elif (transcoding := tags.get(type(item))) is not None:
                    tagged[key] = _tag(transcoding, item, self._tagged)
                else:
                    tagged[key] = self._tagged(item)
            return tagged
        transcoding = tags.get(kind)
        if transcoding is not None:
            return _tag(transcoding, value, self._tagged)
        if kind is list or kind is tuple:
            return [self._tagged(item) for item in value]
        if kind is float:
            if not math.isfinite(value):
                raise _NotPlain
            return value
        # As `json` does: subclasses of the JSON types are written as those types (a StrEnum
        # as its string), whatever transcoding is registered for them.
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, int):
            return int.__int__(value)
        if isinstance(value, float):
            return self._tagged(float.__float__(value))
        if isinstance(value, (list, tuple)):
            return [self._tagged(item) for item in value]
        if isinstance(value, dict):
            return self._tagged(dict(value))
        return self._encode_obj(value)  # the library's "not serializable" error


def _tag(transcoding: Transcoding, value: Any, tagged: Callable[[Any], Any]) -> dict[str, Any]:
    """The library's tag; its data tagged in turn (a transcoding may return objects)."""
    data = transcoding.encode(value)
    return {"_type_": transcoding.name, "_data_": data if type(data) in _PLAIN else tagged(data)}
