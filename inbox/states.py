"""Explicit state machines: a conversation's status and a reply's delivery status.

An illegal transition raises `InvalidTransition`, naming what was expected and what came.
"""

from __future__ import annotations

from inbox.model import DeliveryStatus

CONVERSATION_STATUSES = ("open", "pending", "snoozed", "resolved")

_CONVERSATION_MOVES: dict[str, frozenset[str]] = {
    "open": frozenset({"pending", "snoozed", "resolved"}),
    "pending": frozenset({"open", "snoozed", "resolved"}),
    "snoozed": frozenset({"open", "pending", "resolved"}),
    "resolved": frozenset({"open"}),
}

_DELIVERY_MOVES: dict[str, frozenset[str]] = {
    DeliveryStatus.PENDING: frozenset({"sent", "failed"}),
    DeliveryStatus.SENT: frozenset({"delivered", "read", "failed"}),
    DeliveryStatus.DELIVERED: frozenset({"read"}),
    DeliveryStatus.READ: frozenset(),
    DeliveryStatus.FAILED: frozenset({"pending"}),
    DeliveryStatus.RECEIVED: frozenset(),
}


class InvalidTransition(ValueError):
    def __init__(self, what: str, current: str, wanted: str, allowed: frozenset[str]):
        expected = ", ".join(sorted(allowed)) or "nothing"
        super().__init__(
            f"{what} cannot go from {current!r} to {wanted!r}; from {current!r} it may go to: "
            f"{expected}"
        )
        self.current = current
        self.wanted = wanted


def check_conversation_move(current: str, wanted: str) -> None:
    if wanted not in CONVERSATION_STATUSES:
        raise InvalidTransition("a conversation", current, wanted, frozenset(CONVERSATION_STATUSES))
    allowed = _CONVERSATION_MOVES[current]
    if wanted != current and wanted not in allowed:
        raise InvalidTransition("a conversation", current, wanted, allowed)


def check_delivery_move(current: str, wanted: str) -> None:
    allowed = _DELIVERY_MOVES.get(current, frozenset())
    if wanted not in allowed:
        raise InvalidTransition("a reply", current, wanted, allowed)
