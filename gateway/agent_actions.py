"""What an agent does to a conversation, once for every way of asking: the REST API
(gateway/api/conversations.py) and the agent socket (gateway/ws_agent.py) call the same
action with the fields they read, and turn `ActionRefused` into their own error (an
HTTP status, an error frame) with the same code and message.

Each action checks what the agent may see, commits, and publishes its events after the
commit (inbox/relay.py).
"""

from __future__ import annotations

from typing import Any

from gateway.api.files import load_attachments
from gateway.frames import MAX_ATTACHMENTS, MAX_CLIENT_ID, unstorable
from gateway.runtime import Runtime
from inbox import conversations, replies
from inbox.access import Viewer
from inbox.model import Agent, Message, Outbox
from inbox.reply_window import ReplyWindowClosed
from inbox.serialize import message_dict
from inbox.states import InvalidTransition

#: HTTP statuses of the codes an action refuses with (the socket sends the code alone).
STATUS = {"invalid": 400, "too_long": 413, "not_found": 404, "conflict": 409,
          "reply_window_closed": 409}  # fmt: skip


class ActionRefused(Exception):
    """The action did nothing: `code` says why (a key of STATUS), `message` in words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return STATUS[self.code]


def _storable(name: str, value: str) -> str:
    what = unstorable(value)
    if what is not None:
        raise ActionRefused("invalid", f'"{name}" contains {what}')
    return value


async def reply(
    rt: Runtime,
    agent: Agent,
    viewer: Viewer,
    conversation_id: int,
    *,
    text: str,
    client_id: str,
    private: bool = False,
    attachment_ids: list[str] | None = None,
) -> tuple[dict[str, Any], bool]:
    """A reply (or, `private`, a note) with its files; the message as the API shows it, and
    whether it is new (a repeated `client_id` answers the message it made before)."""
    ids = list(attachment_ids or [])
    if len(ids) > MAX_ATTACHMENTS or not all(0 < len(i) <= 64 for i in ids):
        raise ActionRefused("invalid", f'"attachments" must be at most {MAX_ATTACHMENTS} file ids')
    if not text.strip() and not ids:
        raise ActionRefused("invalid", '"text" must not be empty without attachments')
    if len(text) > rt.settings.max_text:
        raise ActionRefused(
            "too_long", f"text is {len(text)} characters; the limit is {rt.settings.max_text}"
        )
    if not 1 <= len(client_id) <= MAX_CLIENT_ID:
        raise ActionRefused("invalid", f'"client_id" must have 1 to {MAX_CLIENT_ID} characters')
    for name, value in (
        ("text", text),
        ("client_id", client_id),
        *(("attachments", i) for i in ids),
    ):
        _storable(name, value)
    outbox: list[Outbox] = []
    async with rt.sessions() as session, session.begin():
        conv = await conversations.get_visible(session, viewer, conversation_id)
        if conv is None:
            raise ActionRefused("not_found", f"no conversation {conversation_id} that you may see")
        try:
            files = [a.as_dict() for a in await load_attachments(session, ids, None)]
        except LookupError as exc:
            raise ActionRefused("not_found", str(exc)) from None
        try:
            msg, created = await replies.create_reply(
                session, agent, conv, text, client_id=client_id, private=private,
                attachments=files, outbox=outbox,
            )  # fmt: skip
        except ReplyWindowClosed as exc:
            raise ActionRefused("reply_window_closed", exc.message) from None
        body = message_dict(msg, agent=agent)
    await rt.relay.publish_quietly(outbox)
    return body, created


async def retry(rt: Runtime, agent: Agent, viewer: Viewer, message_id: int) -> dict[str, Any]:
    """Send a failed reply again; the message as the API shows it."""
    outbox: list[Outbox] = []
    async with rt.sessions() as session, session.begin():
        msg = await session.get(Message, message_id)
        conv = (
            await conversations.get_visible(session, viewer, msg.conversation_id) if msg else None
        )
        if msg is None or conv is None:
            raise ActionRefused("not_found", f"no message {message_id} that you may see")
        try:
            msg = await replies.retry_reply(session, message_id, outbox)
        except InvalidTransition as exc:
            raise ActionRefused("conflict", str(exc)) from None
        body = message_dict(msg, agent=agent)
    await rt.relay.publish_quietly(outbox)
    return body
