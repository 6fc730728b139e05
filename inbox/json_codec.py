"""JSON on the hot path: orjson, with the standard library's meaning.

Every inbound message is encoded three to five times (its outbox row, its stream entry,
the sender's ack, the visitor's copy of the event) and its frame decoded once. With the
standard library that was about a tenth of a saturated gateway's event loop (py-spy);
orjson does the same work several times faster.

What the rest of the code may rely on, as with `json.dumps`: keys that are not strings
(ints, enums) become strings, and a value orjson cannot encode raises TypeError. The
output is compact (no spaces) and UTF-8 (no `\\u` escapes): any JSON reader reads it.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps_bytes(value: Any) -> bytes:
    return orjson.dumps(value, option=_OPTIONS)


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=_OPTIONS).decode()


def loads(data: str | bytes) -> Any:
    """Our own documents (stream entries, stored JSON). Client input goes through
    gateway/strict_json.py, which refuses what we never send."""
    return orjson.loads(data)


def loads_stored(data: str | bytes) -> Any:
    """JSON columns read back (the engines' `json_deserializer`): orjson, and the standard
    library for what orjson refuses that it wrote once (a lone surrogate's `\\u` escape,
    NaN), so rows stored by earlier versions still read."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
