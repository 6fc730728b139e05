from __future__ import annotations

import pytest

from inbox.states import InvalidTransition, check_conversation_move, check_delivery_move


def test_reply_delivery_moves() -> None:
    check_delivery_move("pending", "sent")
    check_delivery_move("pending", "failed")
    check_delivery_move("failed", "pending")
    check_delivery_move("sent", "delivered")
    with pytest.raises(
        InvalidTransition, match="from 'sent' to 'pending'; from 'sent' it may go to"
    ):
        check_delivery_move("sent", "pending")
    with pytest.raises(InvalidTransition):
        check_delivery_move("received", "sent")


def test_conversation_moves() -> None:
    check_conversation_move("open", "resolved")
    check_conversation_move("resolved", "open")
    with pytest.raises(InvalidTransition, match="'resolved' to 'snoozed'"):
        check_conversation_move("resolved", "snoozed")
    with pytest.raises(InvalidTransition):
        check_conversation_move("open", "archived")
