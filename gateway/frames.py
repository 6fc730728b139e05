"""Checking the fields of client frames (docs/api.md).

A string the database cannot store is refused here, with an error frame to its sender:
PostgreSQL text holds no NUL character, and no database takes a lone UTF-16 surrogate
(JSON can spell one, `"\\ud800"`). Refused at the frame, it never reaches the ingest
batch it would otherwise share with other visitors' messages.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.sockets import FrameError

MAX_CLIENT_ID = 100


MAX_ATTACHMENTS = 5

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(value: str) -> str | None:
    """What in `value` no database stores (a NUL, a lone surrogate), and where; else None."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    what = "a NUL character" if found.group() == "\x00" else "an unpaired surrogate"
    return f"{what} at position {found.start()}"


def storable(name: str, value: str) -> str:
    """`value`, unless it holds a character no database stores (NUL, a lone surrogate)."""
    what = unstorable(value)
    if what is not None:
        raise FrameError("invalid_frame", f'"{name}" contains {what}')
    return value


def attachment_ids(frame: dict[str, Any]) -> list[str]:
    ids = frame.get("attachments", [])
    if (
        not isinstance(ids, list)
        or len(ids) > MAX_ATTACHMENTS
        or not all(isinstance(i, str) and 0 < len(i) <= 64 for i in ids)
    ):
        raise FrameError(
            "invalid_frame", f'"attachments" must be a list of at most {MAX_ATTACHMENTS} file ids'
        )
    return [storable("attachments", i) for i in ids]


def str_field(frame: dict[str, Any], name: str, default: str | None = None) -> str:
    """A string field, checked for its type only (the action checks the rest)."""
    value = frame.get(name, default)
    if not isinstance(value, str):
        raise FrameError("invalid_frame", f'"{name}" must be a string')
    return value


def text_field(frame: dict[str, Any], max_text: int, *, allow_empty: bool = False) -> str:
    text = frame.get("text", "" if allow_empty else None)
    if not isinstance(text, str) or (not text.strip() and not allow_empty):
        raise FrameError("invalid_frame", '"text" must be a non-empty string')
    if len(text) > max_text:
        raise FrameError("too_long", f"text is {len(text)} characters; the limit is {max_text}")
    return storable("text", text)


def client_id_field(frame: dict[str, Any]) -> str:
    cid = frame.get("client_id")
    if not isinstance(cid, str) or not 1 <= len(cid) <= MAX_CLIENT_ID:
        raise FrameError(
            "invalid_frame", f'"client_id" must be a string of 1 to {MAX_CLIENT_ID} characters'
        )
    return storable("client_id", cid)


def int_field(frame: dict[str, Any], name: str, bits: int = 32) -> int:
    value = frame.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise FrameError("invalid_frame", f'"{name}" must be an integer')
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise FrameError("invalid_frame", f'"{name}" is out of range')
    return value


def bool_field(frame: dict[str, Any], name: str, default: bool = False) -> bool:
    value = frame.get(name, default)
    if not isinstance(value, bool):
        raise FrameError("invalid_frame", f'"{name}" must be true or false')
    return value
