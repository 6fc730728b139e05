"""The original of a stored mail, kept beside its message as an attachment with the role
ORIGINAL (receivers/mail_intake.py writes it): what the inbox reads of it later."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ORIGINAL = "original"  # the role of the kept original in a mail's attachments


def robot_reason(attachments: Sequence[dict[str, Any]] | None) -> str | None:
    """Why a stored mail was machine-written (an auto-reply, a bounce), read from its
    kept original; None for a person's mail and for other channels' messages."""
    return next(
        (
            a["data"].get("automated")
            for a in attachments or []
            if isinstance(a, dict) and (a.get("data") or {}).get("role") == ORIGINAL
        ),
        None,
    )
