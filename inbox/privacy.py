"""Privacy (GDPR): a contact's data whole (art. 15 and 20), erasure (art. 17), retention.

Erasure keeps aggregates — conversation rows, message rows with their direction,
timings, sentiment scores and language, CSAT ratings, lifecycle history — and removes
what identifies the person: the contact's name, email, phone and attributes, their
identities, the text and attachments of every message they wrote (text becomes
"[erased]"), their CSAT comments, email subjects, the platform id replies went to, and
their name, email or phone where an agent's message quotes them. Contacts merged into
the erased one are the same person and are erased with it. Events still in the outbox
are scrubbed the same way; copies already in the Redis stream age out with it.

Files: an attachment removed from a message loses its `StoredFile` row when no other
message links it, and its bytes when no other row shares them — after the commit, so
a rollback never leaves a row without its file.

Retention: `apply_retention` anonymises messages older than an inbox's
`retention_days` setting (or CROCEVIA_RETENTION_DAYS for every inbox) the same way,
in batches; meant to be called by the router every RETENTION_EVERY.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, String, Text, cast, delete, event, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import audit, events, lifecycle
from inbox.contacts import merge_dict
from inbox.files import STORED_URL as _FILE_URL
from inbox.files import FileStore
from inbox.model import (
    Agent,
    Base,
    Contact,
    ContactMerge,
    ContactNote,
    Conversation,
    CrmContactState,
    CrmDelivery,
    CsatResponse,
    Identity,
    Inbox,
    Message,
    Outbox,
    StoredFile,
    WebhookDelivery,
    utcnow,
)
from inbox.serialize import conversation_dict, iso, message_dict
from inbox.types import X_DM_SUBJECT, X_PUBLIC_SUBJECT

ERASED = "[erased]"
EXPIRED = "[expired]"
RETENTION_ENV = "CROCEVIA_RETENTION_DAYS"
RETENTION_EVERY = timedelta(minutes=10)
RETENTION_BATCH = 1000
MIN_QUOTED = 3  # shorter names are not searched for in agents' messages
#: Tables this module erases by name; other tables pointing at contacts are scrubbed generically.
_OWN_TABLES = frozenset({"contacts", "identities", "conversations", "messages", "lifecycle_changes",
                         "contact_merges", "outbox"})  # fmt: skip


class ErasureRefused(ValueError):
    pass


async def _merged_into(session: AsyncSession, contact_id: int) -> list[int]:
    """The contact and every contact merged into it, directly or through another."""
    found, frontier = [contact_id], [contact_id]
    while frontier:
        frontier = list(
            await session.scalars(select(Contact.id).where(Contact.merged_into_id.in_(frontier)))
        )
        found += frontier
    return found


async def merged_family(session: AsyncSession, contact_id: int) -> list[int]:
    """The contact and every contact merged into it: whose data an erasure removes."""
    return await _merged_into(session, contact_id)


def _contact_full(c: Contact) -> dict[str, Any]:
    return {
        "id": c.id, "name": c.name, "email": c.email, "phone": c.phone,
        "lifecycle_stage": c.lifecycle_stage, "attributes": dict(c.attributes or {}),
        "merged_into_id": c.merged_into_id, "erased_at": iso(c.erased_at),
        "created_at": iso(c.created_at), "updated_at": iso(c.updated_at),
    }  # fmt: skip


# ---- export ---------------------------------------------------------------------------------


async def export(session: AsyncSession, contact_id: int) -> dict[str, Any]:
    """Everything stored about the contact (and contacts merged into it), as JSON data."""
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise LookupError("no such contact")
    ids = await _merged_into(session, contact_id)
    contacts = {c.id: c for c in await session.scalars(select(Contact).where(Contact.id.in_(ids)))}
    identities = await session.scalars(
        select(Identity).where(Identity.contact_id.in_(ids)).order_by(Identity.id)
    )
    convs = list(
        await session.scalars(
            select(Conversation).where(Conversation.contact_id.in_(ids)).order_by(Conversation.id)
        )
    )
    conv_ids = [c.id for c in convs]
    messages: dict[int, list[dict[str, Any]]] = {i: [] for i in conv_ids}
    rows = await session.execute(
        select(Message, Agent)
        .outerjoin(Agent, Agent.id == Message.author_agent_id)
        .where(Message.conversation_id.in_(conv_ids))
        .order_by(Message.id)
    )
    for msg, agent in rows.all():
        author = contacts.get(msg.author_contact_id or 0)
        messages[msg.conversation_id].append(message_dict(msg, contact=author, agent=agent))
    ratings = {
        r.conversation_id: {
            "rating": r.rating,
            "comment": r.comment,
            "created_at": iso(r.created_at),
        }
        for r in await session.scalars(
            select(CsatResponse).where(CsatResponse.conversation_id.in_(conv_ids))
        )
    }
    merges = await session.scalars(
        select(ContactMerge)
        .where(or_(ContactMerge.kept_contact_id.in_(ids), ContactMerge.merged_contact_id.in_(ids)))
        .order_by(ContactMerge.id)
    )
    return {
        "exported_at": iso(utcnow()),
        "contact": _contact_full(contact),
        "merged_contacts": [_contact_full(contacts[i]) for i in ids[1:]],
        "identities": [
            {"id": i.id, "contact_id": i.contact_id, "channel": i.channel,
             "external_id": i.external_id, "handle": i.handle, "display_name": i.display_name,
             "avatar_url": i.avatar_url, "created_at": iso(i.created_at)}
            for i in identities
        ],
        "conversations": [
            {**conversation_dict(c, contacts[c.contact_id]), "language": c.language,
             "messages": messages[c.id], "csat": ratings.get(c.id)}
            for c in convs
        ],
        "lifecycle_history": [h for i in ids for h in await lifecycle.history(session, i)],
        "merges": [merge_dict(m) for m in merges],
    }  # fmt: skip


# ---- files ----------------------------------------------------------------------------------


def file_ids(attachments: list[Any] | None) -> set[str]:
    """The stored files (`/api/files/{id}`) that a message's attachments link."""
    found = set()
    for a in attachments or []:
        m = _FILE_URL.match(str((a or {}).get("url") or "")) if isinstance(a, dict) else None
        if m:
            found.add(m.group(1))
    return found


async def release_files(session: AsyncSession, ids: set[str], store: FileStore | None) -> int:
    """Delete the rows of files no message links any more (call after removing the links),
    and, once the transaction commits, the bytes no remaining row shares."""
    if not ids:
        return 0
    patterns = [cast(Message.attachments, Text).like(f"%/api/files/{i}%") for i in sorted(ids)]
    linked: set[str] = set()
    for attachments in await session.scalars(select(Message.attachments).where(or_(*patterns))):
        linked |= file_ids(attachments)
    free = ids - linked
    if not free:
        return 0
    rows = list(await session.scalars(select(StoredFile).where(StoredFile.id.in_(free))))
    await session.execute(delete(StoredFile).where(StoredFile.id.in_(free)))
    shas = {r.sha256 for r in rows}
    shared = set(
        await session.scalars(select(StoredFile.sha256).where(StoredFile.sha256.in_(shas)))
    )
    paths = [store.path(sha) for sha in shas - shared] if store is not None else []
    if paths:

        def unlink(_session: object) -> None:
            for path in paths:
                path.unlink(missing_ok=True)

        event.listen(session.sync_session, "after_commit", unlink, once=True)
    return len(rows)


# ---- erasure --------------------------------------------------------------------------------


def _scrub(value: Any, contact_ids: set[int], texts: set[str], quoted: list[str]) -> Any:
    """A copy of an event payload without the erased person's data."""
    if isinstance(value, dict):
        out = {k: _scrub(v, contact_ids, texts, quoted) for k, v in value.items()}
        author = value.get("author")
        if (
            isinstance(author, dict)
            and author.get("type") == "contact"
            and author.get("id") in contact_ids
        ):
            out["text"], out["attachments"] = ERASED, []
        return out
    if isinstance(value, list):
        return [_scrub(v, contact_ids, texts, quoted) for v in value]
    if isinstance(value, str):
        if value in texts:
            return ERASED
        for q in quoted:
            value = value.replace(q, ERASED)
    return value


def _quote_pattern(quoted: list[str]) -> re.Pattern[str] | None:
    if not quoted:
        return None
    return re.compile("|".join(re.escape(q) for q in sorted(quoted, key=len, reverse=True)),
                      re.IGNORECASE)  # fmt: skip


async def erase(
    session: AsyncSession,
    contact_id: int,
    *,
    actor_agent_id: int | None,
    now: datetime | None = None,
    outbox: list[Outbox] | None = None,
    store: FileStore | None = None,
) -> dict[str, Any]:
    """Erase the contact's personal data in the caller's transaction (see the module);
    returns what was done, in counts."""
    now = now or utcnow()
    outbox = outbox if outbox is not None else []
    contact = await session.get(Contact, contact_id, with_for_update=True)
    if contact is None:
        raise LookupError("no such contact")
    if contact.merged_into_id is not None:
        raise ErasureRefused(
            f"this contact was merged into contact {contact.merged_into_id}; erase that one"
        )
    if contact.erased_at is not None:
        raise ErasureRefused(f"this contact was erased already, at {iso(contact.erased_at)}")
    ids = await _merged_into(session, contact_id)
    people = list(await session.scalars(select(Contact).where(Contact.id.in_(ids))))
    identities = list(await session.scalars(select(Identity).where(Identity.contact_id.in_(ids))))
    quoted = sorted(
        {s.strip() for c in people for s in (c.name, c.email, c.phone) if s and len(s.strip()) >= MIN_QUOTED}
        | {s.strip() for i in identities for s in (i.handle, i.display_name) if s and len(s.strip()) >= MIN_QUOTED}
    )  # fmt: skip
    pattern = _quote_pattern(quoted)

    # What the team wrote about them goes too.
    await session.execute(delete(ContactNote).where(ContactNote.contact_id.in_(ids)))
    # What was queued for the CRM carries their name and email: it goes, sent or not.
    await session.execute(delete(CrmDelivery).where(CrmDelivery.contact_id.in_(ids)))
    await session.execute(delete(CrmContactState).where(CrmContactState.contact_id.in_(ids)))
    # Their messages: text and attachments go; direction, timings and sentiment stay.
    written = (await session.execute(
        select(Message.id, Message.text, Message.attachments).where(Message.author_contact_id.in_(ids))
    )).all()  # fmt: skip
    texts = {t for _id, t, _a in written if t and t != ERASED}
    files = set().union(*(file_ids(a) for _id, _t, a in written)) if written else set()
    if written:
        await session.execute(
            update(Message)
            .where(Message.author_contact_id.in_(ids))
            .values(text=ERASED, attachments=[])
            .execution_options(synchronize_session=False)
        )
    convs = list(
        await session.scalars(select(Conversation).where(Conversation.contact_id.in_(ids)))
    )
    conv_ids = [c.id for c in convs]
    # Agents' messages that quote them.
    quoting = 0
    if pattern is not None and conv_ids:
        others = await session.scalars(
            select(Message)
            .where(Message.conversation_id.in_(conv_ids))
            .where(Message.author_contact_id.is_(None))
        )
        for msg in others:
            scrubbed = pattern.sub(ERASED, msg.text or "")
            if scrubbed != msg.text:
                msg.text, quoting = scrubbed, quoting + 1
    for conv in convs:
        if conv.subject not in (None, X_PUBLIC_SUBJECT, X_DM_SUBJECT):
            texts.add(conv.subject)  # an email's subject is the customer's words
            conv.subject = None
        conv.reply_to_external_id = None
        if conv.status != "resolved":  # nobody can be answered any more
            conv.status, conv.resolved_at = "resolved", now
            conv.waiting_since = conv.snoozed_until = None
    if conv_ids:
        await session.execute(
            update(CsatResponse)
            .where(CsatResponse.conversation_id.in_(conv_ids))
            .values(comment=None)
        )
    await session.execute(delete(Identity).where(Identity.contact_id.in_(ids)))
    for person in people:
        person.name = person.email = person.phone = None
        person.attributes = {}
        person.erased_at = now
    await session.flush()
    freed = await release_files(session, files, store)
    scrubbed_events = await _scrub_outbox(session, set(ids), texts, quoted)
    # The events queued for outbound webhooks, and their log, go too: after the outbox is
    # scrubbed, whose row locks wait for a queueing pass that read the rows unscrubbed.
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.contact_id.in_(ids)))
    scrubbed_events += await _scrub_other_tables(session, ids, texts, quoted)

    summary = {"contacts": len(ids), "identities": len(identities), "messages": len(written),
               "quoting_messages": quoting, "files": freed, "events_scrubbed": scrubbed_events,
               "conversations": len(conv_ids)}  # fmt: skip
    audit.record(session, actor_agent_id, "contact.erased", "contact", contact_id,
                 merged_contact_ids=ids[1:], **summary)  # fmt: skip
    if convs:
        outbox.extend(
            await events.emit_many(
                session,
                [
                    ("conversation.updated", {"conversation": conversation_dict(c, contact)})
                    for c in convs
                ],  # fmt: skip
            )
        )
    return summary


async def _scrub_outbox(
    session: AsyncSession, ids: set[int], texts: set[str], quoted: list[str]
) -> int:
    as_text = cast(Outbox.payload, Text)
    # Payloads are compact JSON (inbox/json_codec.py); rows written before were spaced.
    patterns = [as_text.like(p) for i in sorted(ids)
                for p in (f'%"contact":{{"id":{i},%', f'%"type":"contact","id":{i},%',
                          f'%"contact": {{"id": {i},%', f'%"type": "contact", "id": {i},%')]  # fmt: skip
    rows = await session.scalars(select(Outbox).where(Outbox.stream == "events", or_(*patterns)))
    n = 0
    for row in rows:
        payload = _scrub(row.payload, ids, texts, quoted)
        if payload != row.payload:
            row.payload, n = payload, n + 1
    return n


async def _scrub_other_tables(
    session: AsyncSession, ids: list[int], texts: set[str], quoted: list[str]
) -> int:
    """Rows of other tables about the contact (a CRM queue...) lose the same strings."""
    words = sorted({*quoted, *(t for t in texts if len(t) >= MIN_QUOTED)}, key=len, reverse=True)
    n = 0
    for table in Base.metadata.sorted_tables:
        if table.name in _OWN_TABLES:
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name != "contacts":
                continue
            keys = list(table.primary_key.columns)
            cols = [c for c in table.columns
                    if isinstance(c.type, String | Text | JSON) and c not in keys]  # fmt: skip
            if not cols or not keys:
                continue
            rows = await session.execute(select(*keys, *cols).where(fk.parent.in_(ids)))
            for row in rows.all():
                values = {c.name: _scrub(row._mapping[c], set(ids), texts, words) for c in cols}
                if any(values[c.name] != row._mapping[c] for c in cols):
                    await session.execute(
                        update(table).where(*(k == row._mapping[k] for k in keys)).values(values)
                    )
                    n += 1
    return n


# ---- retention ------------------------------------------------------------------------------


def default_retention_days() -> int | None:
    """CROCEVIA_RETENTION_DAYS: a whole number of days, or unset for no retention limit."""
    raw = os.environ.get(RETENTION_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


def _days(settings: dict[str, Any] | None, default: int | None) -> int | None:
    value = (settings or {}).get("retention_days", default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


async def apply_retention(
    session: AsyncSession,
    now: datetime,
    outbox: list[Outbox],
    *,
    store: FileStore | None = None,
    default_days: int | None = None,
) -> int:
    """Anonymise messages older than their inbox's retention (text "[expired]", no
    attachments; files released), at most RETENTION_BATCH per inbox and call, in the
    caller's transaction. Returns how many messages were anonymised. `outbox` receives
    no events (consoles do not show messages that old). `store` lets file bytes go."""
    del outbox
    default = default_days if default_days is not None else default_retention_days()
    done = 0
    for inbox_id, settings in (await session.execute(select(Inbox.id, Inbox.settings))).all():
        days = _days(settings, default)
        if days is None:
            continue
        cutoff = now - timedelta(days=days)
        old = (
            await session.execute(
                select(Message.id, Message.attachments)
                .where(Message.inbox_id == inbox_id, Message.created_at < cutoff)
                .where(
                    Message.text.not_in([EXPIRED, ERASED, ""])
                    | (func.coalesce(cast(Message.attachments, Text), "[]") != "[]")
                )
                .limit(RETENTION_BATCH)
            )
        ).all()
        if not old:
            continue
        await session.execute(
            update(Message)
            .where(Message.id.in_([i for i, _a in old]))
            .values(text=EXPIRED, attachments=[])
            .execution_options(synchronize_session=False)
        )
        await session.flush()
        await release_files(session, set().union(*(file_ids(a) for _i, a in old)), store)
        done += len(old)
    return done
