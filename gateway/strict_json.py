"""JSON from clients, decoded strictly: every HTTP body, webhook and socket frame.

Python's decoder accepts `NaN`, `Infinity` and `1e999` (an infinite float that no database
column or JSON output can hold) and recurses once per nesting level, so `[` × 100000
raises RecursionError deep in a request. Here both are refused as `TooStrange`, a
ValueError the callers already answer with 400 (sockets: close 1007), and a document
nested deeper than MAX_DEPTH is refused as well, so nothing downstream has to walk it.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 64


class TooStrange(ValueError):
    """Valid JSON that we refuse: a non-finite number or nesting deeper than MAX_DEPTH."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise TooStrange(f"the number {text[:40]} is out of range")
    return value


def _constant(name: str) -> Any:
    raise TooStrange(f"{name} is not a JSON number")


def _check_depth(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise TooStrange(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def loads(data: str | bytes) -> Any:
    """The decoded document; ValueError (or its TooStrange) when it is not acceptable."""
    try:
        value = json.loads(data, parse_float=_finite, parse_constant=_constant)
    except RecursionError:
        raise TooStrange(f"nested deeper than {MAX_DEPTH} levels") from None
    _check_depth(value)
    return value
