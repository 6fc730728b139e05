"""Conversation labels: short lower-case names such as `reso`, `vip` or `spedizione-ritardata`.

Labels live on the conversation as a JSON list. Their normal form (lower case,
ASCII letters, digits, `-` and `_`, at most 40 characters) makes a quoted name
unambiguous inside the JSON text, which is what the list filter matches.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, String, cast

from inbox.model import Conversation

_LABEL = re.compile(r"[a-z0-9_-]{1,40}")
MAX_LABELS = 20


class InvalidLabel(ValueError):
    pass


def normalise(name: str) -> str:
    label = name.strip().lower().replace(" ", "-")
    if not _LABEL.fullmatch(label):
        raise InvalidLabel(f"a label has 1 to 40 letters a-z, digits, '-' or '_', got {name!r}")
    return label


def normalise_all(names: list[str]) -> list[str]:
    labels = sorted({normalise(n) for n in names})
    if len(labels) > MAX_LABELS:
        raise InvalidLabel(f"at most {MAX_LABELS} labels per conversation, got {len(labels)}")
    return labels


def has_label(label: str) -> ColumnElement[bool]:
    """SQL: the conversation carries `label` (already normalised)."""
    return cast(Conversation.labels, String).like(f'%"{normalise(label)}"%')


_COLOUR = re.compile(r"#[0-9a-f]{6}")


def colour(value: object) -> str:
    """A colour as `#rrggbb` (lower case)."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if not _COLOUR.fullmatch(text):
        raise InvalidLabel(f"a colour is #rrggbb, such as #0b6e4f, got {value!r}"[:120])
    return text
