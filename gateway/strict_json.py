"""JSON from clients, decoded strictly: every HTTP body, webhook and socket frame.

Python's decoder accepts `NaN`, `Infinity` and `1e999` (an infinite float that no database
column or JSON output can hold) and recurses once per nesting level, so `[` × 100000
raises RecursionError deep in a request. Here both are refused as `TooStrange`, a
ValueError the callers already answer with 400 (sockets: close 1007), and a document
nested deeper than MAX_DEPTH is refused, so nothing downstream has to walk it.

orjson decodes first (every socket frame comes through here): it refuses non-finite
numbers and never recurses in Python. What it refuses is decoded again by the standard
library, after a scan of the nesting (so that decoder never recurses deeply), which
gives the reason in our words, or accepts what orjson alone refuses (an escaped lone
surrogate, as the standard library always did). An integer past 64 bits, which the
standard library kept whole, comes out of orjson as a float.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

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


_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _nesting_within_limit(data: bytes) -> bool:
    """Brackets outside strings never nest deeper than MAX_DEPTH. Checked before decoding:
    letting the C decoder hit RecursionError leaves CPython 3.11 unable to compile code
    afterwards in that process ("AST constructor recursion depth mismatch")."""
    depth = 0
    for token in _TOKENS.finditer(data):
        first = token.group()[:1]
        if first in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif first in (b"]", b"}"):
            depth -= 1
    return True


def loads(data: str | bytes) -> Any:
    """The decoded document; ValueError (or its TooStrange) when it is not acceptable."""
    try:
        value = orjson.loads(data)  # refuses NaN, 1e999 and nesting past 1024 itself
    except orjson.JSONDecodeError:
        value = _loads_slowly(data)  # the reason, in the words below (or a lone surrogate)
    _check_depth(value)
    return value


def _loads_slowly(data: str | bytes) -> Any:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if not _nesting_within_limit(raw):
        raise TooStrange(f"nested deeper than {MAX_DEPTH} levels")
    return json.loads(data, parse_float=_finite, parse_constant=_constant)
