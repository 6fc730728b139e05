"""What the inbox does with parsed messages before it stores them, whatever brought them
(a webhook, a poller): the asynchronous steps a connector offers through the optional
protocols of inbox/types.py (listed in connectors/base.py).

- `LooksUpSenders`: the name and picture of senders we have never seen (Messenger,
  Instagram), asked once per sender;
- `DownloadsFiles`: the bytes of files the platform sends as references (Telegram file
  ids, WhatsApp media ids), downloaded once per new message and kept in the file store;
- `LinksContacts`: a signed link the customer opened (Telegram's `/start`) ties their
  identity to a contact we know.

Messages the inbox already holds (a platform's redelivery) are not prepared again. A
platform failure that should be retried raises: the webhook answers 503, the poller
does not move its cursor, and the platform delivers the same messages again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.files import FileRefused, FileStore
from inbox.identity_links import link_identity
from inbox.model import Identity, Message
from inbox.types import (
    Attachment,
    Downloaded,
    DownloadsFiles,
    InboundMessage,
    LinksContacts,
    LooksUpSenders,
)

log = logging.getLogger("crocevia.preparation")


async def prepare(
    connector: object,
    items: Sequence[InboundMessage],
    *,
    sessions: async_sessionmaker[AsyncSession],
    files: FileStore | None,
    secret_key: str,
) -> list[InboundMessage]:
    """`items` ready to store, in the same order."""
    out = list(items)
    if not out or not isinstance(connector, LooksUpSenders | DownloadsFiles | LinksContacts):
        return out
    known = await _known(sessions, out)
    new = [n for n, i in enumerate(out) if (i.inbox_id, i.external_id) not in known]
    if isinstance(connector, LooksUpSenders):
        out = await _senders(connector, sessions, out)
    if isinstance(connector, DownloadsFiles) and files is not None:
        out = await _downloads(connector, sessions, files, out, new)
    if isinstance(connector, LinksContacts):
        for n in new:
            item = out[n]
            contact_id = connector.linked_contact(item, secret_key)
            if contact_id is None:
                continue
            linked = await link_identity(sessions, item.channel.value, item.sender, contact_id)
            log.info("contact_link", extra={"inbox": item.inbox_id, "channel": item.channel.value,
                     "linked": linked, "contact": contact_id})  # fmt: skip
    return out


async def _known(
    sessions: async_sessionmaker[AsyncSession], items: Sequence[InboundMessage]
) -> set[tuple[int, str]]:
    keys = {(i.inbox_id, i.external_id) for i in items}
    async with sessions() as session:
        rows = await session.execute(
            select(Message.inbox_id, Message.external_id)
            .where(Message.inbox_id.in_({k[0] for k in keys}))
            .where(Message.external_id.in_({k[1] for k in keys}))
        )
        return {(r.inbox_id, r.external_id) for r in rows} & keys


async def _senders(
    connector: LooksUpSenders,
    sessions: async_sessionmaker[AsyncSession],
    items: list[InboundMessage],
) -> list[InboundMessage]:
    keys = {(i.channel.value, i.sender.external_id) for i in items}
    async with sessions() as session:
        rows = await session.execute(
            select(Identity.channel, Identity.external_id)
            .where(Identity.channel.in_({k[0] for k in keys}))
            .where(Identity.external_id.in_({k[1] for k in keys}))
        )
        seen = {(r.channel, r.external_id) for r in rows}
    unseen = sorted({k[1] for k in keys - seen})
    if not unseen:
        return items
    found = await connector.profiles(unseen)
    return [replace(i, sender=found.get(i.sender.external_id, i.sender)) for i in items]


async def _downloads(
    connector: DownloadsFiles,
    sessions: async_sessionmaker[AsyncSession],
    files: FileStore,
    items: list[InboundMessage],
    new: list[int],
) -> list[InboundMessage]:
    wanted = [(n, k) for n in new for k, a in enumerate(items[n].attachments)
              if connector.waiting_download(a)]  # fmt: skip
    if not wanted:
        return items
    got = await connector.download([items[n].attachments[k] for n, k in wanted])
    if len(got) != len(wanted):
        raise RuntimeError(f"{type(connector).__name__}.download answered {len(got)} of "
                           f"{len(wanted)} files")  # fmt: skip
    attachments = {n: list(items[n].attachments) for n, _k in wanted}
    async with sessions() as session, session.begin():
        for (n, k), result in zip(wanted, got, strict=True):
            attachments[n][k] = await _stored(session, files, items[n], attachments[n][k], result)
    out = list(items)
    for n, kept in attachments.items():
        out[n] = replace(out[n], attachments=tuple(kept))
    return out


async def _stored(
    session: AsyncSession,
    files: FileStore,
    item: InboundMessage,
    asked: Attachment,
    result: Downloaded | Attachment,
) -> Attachment:
    if isinstance(result, Attachment):
        return result  # kept as a reference, with the reason in data["error"]
    try:
        row = await files.save(session, result.data, result.name, inbox_id=item.inbox_id)
    except FileRefused as exc:
        return replace(asked, data={**asked.data, "error": str(exc)})
    return replace(asked, url=f"/api/files/{row.id}", name=row.name,
                   content_type=row.content_type, size=row.size)  # fmt: skip
