"""What a pending reply becomes for its connector: an `OutboundMessage` carrying all a
platform adapter needs, so that connectors never read our storage (connectors/base.py).

Besides the text and the recipient: the bytes of the reply's stored files, the thread
ids a mail client threads by, the customer's latest message (X answers a public post
publicly), whether no agent wrote it and whether the customer's latest mail came from a
robot (an automatic message never answers one), and the WhatsApp template named with
`/template`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.files import FileStore, stored_contents
from inbox.mail_original import robot_reason
from inbox.model import Contact, Conversation, DeliveryStatus, Identity, Inbox, Message
from inbox.reply_window import TEMPLATE_CHANNELS, template_of
from inbox.types import Attachment, Channel, OutboundMessage


async def load_outbound(
    sessions: async_sessionmaker[AsyncSession], files: FileStore | None, message_id: int
) -> tuple[Inbox, OutboundMessage] | None:
    """The pending reply `message_id` as its connector sends it, with its inbox; None
    when it is no longer pending (sent already by a job taken over late, or gone)."""
    async with sessions() as session:
        msg = await session.get(Message, message_id)
        if msg is None or msg.status != DeliveryStatus.PENDING:
            return None  # sent already (a job taken over late), or gone
        conv = await session.get_one(Conversation, msg.conversation_id)
        inbox = await session.get_one(Inbox, conv.inbox_id)
        contact = await session.get_one(Contact, conv.contact_id)
        identity = (
            await session.execute(
                select(Identity)
                .where(Identity.contact_id == contact.id, Identity.channel == inbox.channel)
                .order_by(Identity.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        thread: list[tuple[str, str]] = []
        if conv.threaded:  # email: the ids the customer's client threads by
            thread = [
                (str(r.external_id), r.direction)
                for r in await session.execute(
                    select(Message.external_id, Message.direction)
                    .where(Message.conversation_id == conv.id)
                    .where(Message.external_id.is_not(None), Message.id != msg.id)
                    .order_by(Message.id)
                )
            ]
        latest = (
            await session.execute(
                select(Message.external_id, Message.attachments)
                .where(Message.conversation_id == conv.id, Message.direction == "in")
                .order_by(Message.id.desc())
                .limit(1)
            )
        ).first()
        attachments = await stored_contents(
            session, files, tuple(Attachment(**a) for a in msg.attachments or [])
        )
        return inbox, OutboundMessage(
            message_id=msg.id,
            conversation_id=conv.id,
            inbox_id=inbox.id,
            channel=Channel(inbox.channel),
            recipient_external_id=conv.reply_to_external_id
            or (identity.external_id if identity else ""),
            text=msg.text,
            attachments=attachments,
            subject=conv.subject,
            recipient_email=contact.email,
            thread_ids=tuple(i for i, _d in thread),
            reply_to_external_id=next((i for i, d in reversed(thread) if d == "in"), None),
            last_inbound_external_id=latest.external_id if latest else None,
            automatic=msg.author_agent_id is None,
            answers_robot=robot_reason(latest.attachments if latest else None),
            template=template_of(msg.text) if inbox.channel in TEMPLATE_CHANNELS else None,
        )
