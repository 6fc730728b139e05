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
