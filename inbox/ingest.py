"""Ingest: inbound messages become stored messages, in one transaction.

For each `InboundMessage`: resolve (or create) the contact through its identity,
find the open conversation (or the email thread) or open one, insert the message
unless the platform already delivered it (unique on inbox and external id), tag
language and sentiment, update the conversation's timers and write the events.
The caller commits, and only then acknowledges the platform.

Work is set-based: a batch costs a handful of statements whatever its size
(one look-up of known messages, one of identities, one of open conversations,
then the inserts), which is what lets group commit keep up under load. When a
batch fails (a unique constraint that another transaction won, or one message the
database refuses), it is retried one message per transaction: a race then finds
the winner's rows, and only the refused message fails.

The transaction is synchronous code on a `Session`, run by a `Writes` (inbox/writes.py):
in one writer thread on SQLite, in the event loop's greenlet on PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    Select,
    Update,
    bindparam,
    false,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from inbox import csat, events
from inbox.conversations import latest_of_contact_sync
from inbox.events import OutboxRow
from inbox.inbox_cache import InboxCache, InboxFacts, read_inboxes
from inbox.loaded_inserts import insert_loaded
from inbox.lookup_forms import Form, among, by_form, form_for, pair_values, values, with_pairs
from inbox.model import (
    Contact,
    Conversation,
    DeliveryStatus,
    Direction,
    Identity,
    Message,
    utcnow,
)
from inbox.serialize import conversation_dict, message_dict
from inbox.types import CHAT_CHANNELS, InboundMessage, safe_link
from inbox.unique_keys import unique_key
from inbox.writes import Writes

log = logging.getLogger("crocevia.ingest")


class Analysis(Protocol):
    @property
    def language(self) -> str | None: ...
    @property
    def score(self) -> float: ...
    @property
    def label(self) -> str: ...


Tagger = Callable[[str], Analysis]


class UnknownInbox(LookupError):
    pass


@dataclass(slots=True)
class NewMessage:
    """A message this batch inserted, as the ingest's callers and events read it: the
    insert returns only ids (Core), and no ORM object is made for it."""

    id: int
    conversation_id: int
    inbox_id: int
    direction: str
    author_contact_id: int | None
    text: str
    attachments: list[Any]
    external_id: str | None
    client_id: str | None
    status: str
    platform_sent_at: datetime | None
    created_at: datetime
    attempts: int
    language: str | None
    sentiment_score: float | None
    sentiment_label: str | None
    author_agent_id: int | None = None
    error: str | None = None
    edited_at: datetime | None = None


@dataclass(slots=True)
class Ingested:
    message: Message | NewMessage
    conversation: Conversation
    contact: Contact
    created: bool  # False when the platform delivered this message before
    # The message as its message.created event shows it (serialize.message_dict), made
    # once in the transaction; None for a message delivered before.
    shown: dict[str, Any] | None = None


Result = Ingested | BaseException
Stored = tuple[list[Result], list[OutboxRow]]


def _known_form(form: Form) -> Select[int, int, str | None]:
    """Messages by (inbox, external id)."""
    found = select(Message.id, Message.inbox_id, Message.external_id)
    return with_pairs(found, Message.inbox_id, Message.external_id, ("inboxes", "ids"), form)


def _identities_form(form: Form) -> Select[str, str, Contact, Conversation]:
    """Each known sender's contact, and with it its open chat conversations in the batch's
    inboxes (one row each, or one row without): the common case needs no other look-up."""
    found = (
        select(Identity.channel, Identity.external_id, Contact, Conversation)
        .join(Contact, Contact.id == Identity.contact_id)
        .outerjoin(
            Conversation,
            (Conversation.contact_id == Contact.id)
            & among(Conversation.inbox_id, "inboxes", form)
            & (Conversation.status != "resolved")
            & (Conversation.threaded == false()),
        )
    )
    return with_pairs(found, Identity.channel, Identity.external_id, ("channels", "ids"), form)


# The batch's statements, built once (making a statement cost more than running it).
# One INSERT .. RETURNING ids for all its messages (see model.insert_sentinel).
_INSERT_MESSAGES = insert(Message).returning(Message.id, sort_by_parameter_order=True)
# Core, ids only: a message delivered before is rare, and only then is it loaded whole
# (an ORM select costs this transaction's one-message batch three times a Core one).
_KNOWN_MESSAGES = by_form(_known_form)
_MESSAGES_BY_ID = select(Message).where(Message.id.in_(bindparam("ids", expanding=True)))
_INSERT_IDENTITIES = insert(Identity)
_IDENTITIES = by_form(_identities_form)
_OPEN_CHATS = by_form(
    lambda form: (
        select(Conversation)
        .where(among(Conversation.contact_id, "contacts", form))
        .where(among(Conversation.inbox_id, "inboxes", form))
        .where(Conversation.status != "resolved")
        .where(Conversation.threaded == false())
    )
)


def _known_messages(
    session: Session, items: Sequence[InboundMessage]
) -> dict[tuple[int, str], Message]:
    keys = {(i.inbox_id, i.external_id) for i in items}
    form = form_for(session, keys)
    rows = session.connection().execute(
        _KNOWN_MESSAGES[form], pair_values(form, keys, ("inboxes", "ids"))
    )
    ids = [id_ for id_, inbox_id, external_id in rows if (inbox_id, external_id) in keys]
    if not ids:
        return {}
    found = session.execute(_MESSAGES_BY_ID, {"ids": ids}).scalars()
    return {(m.inbox_id, m.external_id or ""): m for m in found}


def _follow_merges(session: Session, contact: Contact) -> Contact:
    while contact.merged_into_id is not None:
        contact = session.get_one(Contact, contact.merged_into_id)
    return contact


def _contacts_by_phone(session: Session, phones: set[str | None]) -> dict[str, Contact]:
    """Contacts already known by one of these phone numbers (E.164), when exactly one has it:
    a new identity with that number joins that contact instead of making another."""
    wanted = {p for p in phones if p}
    if not wanted:
        return {}
    rows = session.execute(
        select(Contact).where(Contact.phone.in_(wanted)).where(Contact.merged_into_id.is_(None))
    )
    matches: dict[str, list[Contact]] = {}
    for contact in rows.scalars():
        matches.setdefault(contact.phone or "", []).append(contact)
    return {phone: found[0] for phone, found in matches.items() if len(found) == 1}


@dataclass(slots=True)
class Senders:
    """The contact behind each sender's identity, and the open chat conversations in the
    batch's inboxes of the contacts in `chats_known` (found with the identities, or new)."""

    contacts: dict[tuple[str, str], Contact]
    chats: dict[tuple[int, int], Conversation]  # (inbox id, contact id)
    chats_known: set[int]  # contact ids


def _contacts(session: Session, items: Sequence[InboundMessage]) -> Senders:
    """The contact behind each sender's identity, created on first sight, and the open
    chat conversations that came with the identities."""
    keys = {(i.channel.value, i.sender.external_id) for i in items}
    inboxes = list({i.inbox_id for i in items})
    form = form_for(session, keys, inboxes)
    params = {**pair_values(form, keys, ("channels", "ids")), **values(form, inboxes=inboxes)}
    rows = session.execute(_IDENTITIES[form], params)
    found: dict[tuple[str, str], Contact] = {}
    chats: dict[tuple[int, int], Conversation] = {}
    chats_known: set[int] = set()
    for channel, external_id, contact, conv in rows.all():
        if (channel, external_id) not in keys:
            continue
        if contact.merged_into_id is None:  # its open chats, if any, came with it
            chats_known.add(contact.id)
            if conv is not None:
                chats[(conv.inbox_id, contact.id)] = conv
        found[(channel, external_id)] = _follow_merges(session, contact)
    by_phone = _contacts_by_phone(session, {i.sender.phone for i in items})
    new: list[tuple[tuple[str, str], InboundMessage]] = []
    made: list[Contact] = []  # new contacts (one may go with several new identities)
    for item in items:
        key = (item.channel.value, item.sender.external_id)
        if key in found:
            if found[key].name is None and item.sender.name:
                found[key].name = item.sender.name
            if found[key].phone is None and item.sender.phone:
                found[key].phone = item.sender.phone
            continue
        s = item.sender
        if s.phone and s.phone in by_phone:  # known elsewhere (WhatsApp number = contact phone)
            found[key] = by_phone[s.phone]
            if found[key].name is None and (s.name or s.handle):
                found[key].name = s.name or s.handle
        else:
            found[key] = Contact(
                name=s.name or s.handle, email=s.email, phone=s.phone, attributes={}
            )
            made.append(found[key])
            if s.phone:
                by_phone[s.phone] = found[key]
        new.append((key, item))
    if new:
        insert_loaded(session, made)  # the contacts get their ids
        chats_known.update(c.id for c in made)  # new: no conversation yet
        session.connection().execute(
            _INSERT_IDENTITIES,
            [
                {"channel": key[0], "external_id": key[1], "contact_id": found[key].id,
                 "handle": item.sender.handle, "display_name": item.sender.name,
                 "avatar_url": safe_link(item.sender.avatar_url)}
                for key, item in new  # insert_key and created_at: the columns' defaults
            ],
        )  # fmt: skip
    return Senders(found, chats, chats_known)


def _open_chats(
    session: Session, pairs: set[tuple[int, int]]
) -> dict[tuple[int, int], Conversation]:
    if not pairs:
        return {}
    contacts, inboxes = list({p[1] for p in pairs}), list({p[0] for p in pairs})
    form = form_for(session, contacts, inboxes)
    rows = session.execute(_OPEN_CHATS[form], values(form, contacts=contacts, inboxes=inboxes))
    found = {(c.inbox_id, c.contact_id): c for c in rows.scalars()}
    return {k: c for k, c in found.items() if k in pairs}


def _thread_of(session: Session, inbox: InboxFacts, item: InboundMessage) -> Conversation | None:
    if not item.thread_ids:
        return None
    return (
        session.execute(
            select(Conversation)
            .join(Message, Message.conversation_id == Conversation.id)
            .where(Message.inbox_id == inbox.id)
            .where(Message.external_id.in_(item.thread_ids))
            .order_by(Message.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


def _asked_for_rating(
    session: Session, inbox_id: int, contact_id: int, now: datetime
) -> Conversation | None:
    """The contact's latest conversation here, if it is resolved and waits for a rating."""
    conv = latest_of_contact_sync(session, inbox_id, contact_id)
    return conv if conv is not None and csat.awaits_rating(conv, now) else None


def _open(
    inbox: InboxFacts, contact: Contact, item: InboundMessage, threaded: bool
) -> Conversation:
    now = utcnow()
    return Conversation(
        inbox_id=inbox.id, contact_id=contact.id, channel=inbox.channel, status="open",
        threaded=threaded, subject=item.subject, team_id=inbox.team_id,
        waiting_since=now, created_at=now,
    )  # fmt: skip


# What the ingest changes on a conversation it found: written in Core, one UPDATE per set
# of changed columns (as the ORM's flush groups them), instead of the unit of work.
_TOUCHED = ("status", "snoozed_until", "subject", "last_message_at", "waiting_since",
            "reply_to_external_id", "language")  # fmt: skip
_UPDATES: dict[tuple[str, ...], Update] = {}


def _write_found(session: Session, convs: Iterable[Conversation], now: datetime) -> None:
    """Write what this batch changed on conversations that were already stored, and take
    them out of the session (its flush then has nothing to do for them). New ones are
    inserted next (inbox/loaded_inserts.py); one changed elsewhere too (a CSAT rating) is
    left to the flush."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for conv in {id(c): c for c in convs}.values():
        state = inspect(conv)
        if state.key is None:  # new: the flush inserts it
            continue
        modified = state.committed_state  # the attributes set since it was loaded
        changed = tuple(k for k in _TOUCHED if k in modified)
        if not changed or len(changed) != len(modified):
            continue
        row = {k: getattr(conv, k) for k in changed}
        session.expunge(conv)
        set_committed_value(conv, "updated_at", now)
        groups.setdefault(changed, []).append({**row, "b_id": conv.id, "updated_at": now})
    for changed, rows in groups.items():
        stmt = _UPDATES.get(changed)
        if stmt is None:
            stmt = _UPDATES[changed] = (
                update(Conversation)
                .where(Conversation.id == bindparam("b_id"))
                .values({k: bindparam(k) for k in (*changed, "updated_at")})
            )
        session.connection().execute(stmt, rows)


def _tags(text: str, tagger: Tagger | None) -> dict[str, Any]:
    if tagger is None or not text.strip():
        return {"language": None, "sentiment_score": None, "sentiment_label": None}
    analysis = tagger(text)
    return {
        "language": analysis.language,
        "sentiment_score": round(float(analysis.score), 4),
        "sentiment_label": analysis.label,
    }


def _payload(msg: Message | NewMessage, conv: Conversation, contact: Contact) -> dict[str, Any]:
    return {
        "message": message_dict(msg, contact=contact),
        "conversation": conversation_dict(conv, contact),
    }


def ingest_batch(
    session: Session,
    items: Sequence[InboundMessage],
    tagger: Tagger | None = None,
    inbox_cache: InboxCache | None = None,
) -> Stored:
    """Store `items` in the session's transaction. One result per item, in order (an
    UnknownInbox for an item that names no inbox of its channel), and the outbox rows.
    With `inbox_cache`, inboxes known lately are not read again."""
    ids = {i.inbox_id for i in items}
    inboxes = inbox_cache.get(session, ids) if inbox_cache else read_inboxes(session, ids)
    results: list[Result | None] = [None] * len(items)
    valid: list[int] = []
    for n, item in enumerate(items):
        inbox = inboxes.get(item.inbox_id)
        if inbox is None or inbox.channel != item.channel.value:
            results[n] = UnknownInbox(f"no {item.channel.value} inbox with id {item.inbox_id}")
        else:
            valid.append(n)
    todo = [items[n] for n in valid]
    if not todo:
        return [r for r in results if r is not None], []

    known: dict[tuple[int, str], Message | NewMessage] = {**_known_messages(session, todo)}
    fresh = [i for i in todo if (i.inbox_id, i.external_id) not in known]
    senders = _contacts(session, fresh) if fresh else Senders({}, {}, set())
    contacts, chats = senders.contacts, senders.chats
    wanted = {(i.inbox_id, contacts[(i.channel.value, i.sender.external_id)].id)
              for i in fresh if i.channel in CHAT_CHANNELS}  # fmt: skip
    # Only the contacts whose open chats did not come with their identity.
    chats.update(_open_chats(session, {p for p in wanted if p[1] not in senders.chats_known}))

    now = utcnow()
    opened: dict[int, Conversation] = {}  # by id(): the conversations this batch opened
    reopened: set[int] = set()  # id() of conversations this batch moved back to open
    fresh_rows: list[dict[str, Any]] = []
    fresh_convs: list[Conversation] = []
    fresh_at: dict[tuple[int, str], int] = {}  # message key -> index in fresh_rows
    plan: list[tuple[int, tuple[int, str], Conversation | None, Contact | None]] = []
    for n in valid:
        item = items[n]
        key = (item.inbox_id, item.external_id)
        if key in known or key in fresh_at:  # delivered before, or twice in this batch
            plan.append((n, key, None, None))
            continue
        inbox = inboxes[item.inbox_id]
        contact = contacts[(item.channel.value, item.sender.external_id)]
        rating: Conversation | None = None
        if item.channel in CHAT_CHANNELS:
            conv = chats.get((inbox.id, contact.id))
            if conv is None and csat.rating_in(item.text) is not None:
                conv = rating = _asked_for_rating(session, inbox.id, contact.id, now)
            if conv is None:
                conv = chats[(inbox.id, contact.id)] = _open(inbox, contact, item, threaded=False)
                opened[id(conv)] = conv
        else:
            conv = _thread_of(session, inbox, item)
            if conv is None:
                conv = _open(inbox, contact, item, threaded=True)
                opened[id(conv)] = conv
        if rating is not None:  # "5" answering our CSAT question: a rating, not a new request
            csat.record_sync(session, rating, csat.rating_in(item.text) or 0, None, now)
        elif conv.status != "open":
            conv.status, conv.snoozed_until = "open", None
            reopened.add(id(conv))
        if item.subject is not None and item.channel in CHAT_CHANNELS:
            conv.subject = item.subject  # X: whether replies are public follows the latest
        conv.last_message_at = now
        if conv.waiting_since is None and rating is None:
            conv.waiting_since = now
        fresh_at[key] = len(fresh_rows)
        fresh_rows.append(
            {"insert_key": unique_key(), "inbox_id": inbox.id, "direction": Direction.IN.value,
             "author_contact_id": contact.id, "text": item.text,
             "attachments": [a.as_dict() for a in item.attachments],
             "external_id": item.external_id, "client_id": item.raw.get("client_id"),
             "status": DeliveryStatus.RECEIVED.value, "platform_sent_at": item.sent_at,
             "created_at": now, "attempts": 0, **_tags(item.text, tagger)}
        )  # fmt: skip
        conv.reply_to_external_id = item.sender.external_id  # answer whoever wrote last
        if conv.language is None:
            conv.language = fresh_rows[-1]["language"]  # the customer's, for routing
        fresh_convs.append(conv)
        plan.append((n, key, conv, contact))
    _write_found(session, fresh_convs, now)
    insert_loaded(session, list(opened.values()))  # the new conversations get their ids
    session.flush()  # anything else changed (a contact's name, a CSAT rating)
    if fresh_rows:
        for row, conv in zip(fresh_rows, fresh_convs, strict=True):
            row["conversation_id"] = conv.id
        # Core: the ids come back, and the messages are the rows just written.
        new_ids = session.connection().execute(_INSERT_MESSAGES, fresh_rows).scalars().all()
        for key, i in fresh_at.items():
            row = {k: v for k, v in fresh_rows[i].items() if k != "insert_key"}
            known[key] = NewMessage(id=new_ids[i], **row)

    specs: list[tuple[str, dict[str, Any]]] = []
    emitted: set[int] = set()
    for n, key, planned_conv, planned_contact in plan:
        item, msg = items[n], known[key]
        created = planned_conv is not None and planned_contact is not None
        if planned_conv is None or planned_contact is None:
            conv = session.get_one(Conversation, msg.conversation_id)
            contact = session.get_one(Contact, conv.contact_id)
            if item.edited and msg.text != item.text:
                msg.text, msg.edited_at = item.text, utcnow()
                for field, value in _tags(item.text, tagger).items():
                    setattr(msg, field, value)
                if isinstance(msg, NewMessage):  # inserted by this batch: no ORM object
                    session.connection().execute(
                        update(Message).where(Message.id == msg.id),
                        {"text": msg.text, "edited_at": msg.edited_at, "language": msg.language,
                         "sentiment_score": msg.sentiment_score,
                         "sentiment_label": msg.sentiment_label},
                    )  # fmt: skip
                specs.append(("message.updated", _payload(msg, conv, contact)))
        else:
            conv, contact = planned_conv, planned_contact
            if (id(conv) in opened or id(conv) in reopened) and id(conv) not in emitted:
                emitted.add(id(conv))
                name = "conversation.created" if id(conv) in opened else "conversation.updated"
                specs.append((name, {"conversation": conversation_dict(conv, contact)}))
        shown = None
        if created and fresh_at.get(key, -1) >= 0 and id(msg) not in emitted:
            emitted.add(id(msg))
            payload = _payload(msg, conv, contact)
            shown = payload["message"]
            specs.append(("message.created", payload))
        results[n] = Ingested(msg, conv, contact, created=created, shown=shown)
    outbox: list[OutboxRow] = [*events.emit_many_sync(session, specs)]
    return [r for r in results if r is not None], outbox


def dropped(exc: BaseException) -> bool:
    """Whether `exc` says the connection was gone (a database restart, a connection closed
    while idle): SQLAlchemy then discards the pool's connections, and a new try opens a
    new one. The intake's pool does not ping at checkout (gateway/app.py), so this is how
    it finds out."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database is unreachable (no item of a batch can be stored),
    rather than that something in the batch was refused."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeout | OSError | TimeoutError)


async def _run_reconnecting(writes: Writes, run: Callable[[Session], Stored]) -> Stored:
    """`writes.run(run)`, once more on a new connection if the first found its connection
    dropped. Safe even if the commit had gone through before the connection dropped: the
    messages are then found stored, and their events are left to the relay's sweeper."""
    try:
        return await writes.run(run)
    except Exception as exc:
        if not dropped(exc):
            raise
        log.info("ingest_reconnecting", extra={"error": repr(exc)[:200]})
    return await writes.run(run)


async def ingest_many(
    writes: Writes,
    items: Sequence[InboundMessage],
    tagger: Tagger | None = None,
    also: Callable[[Session], None] | None = None,
    inbox_cache: InboxCache | None = None,
) -> tuple[list[Result], list[OutboxRow]]:
    """Store a batch and commit; returns one result (or the error for that item) per
    item, in order, and the committed outbox rows. Nothing is returned uncommitted.
    `also` runs inside each transaction (the relay marks published rows there).

    One item never fails its neighbours: when the batch's transaction fails for any
    reason but an unreachable database (which raises), the items are stored again one
    per transaction, so only the item at fault gets an error. A unique-key race is
    retried (the second try finds the winner's rows)."""

    def work(batch: Sequence[InboundMessage]) -> Callable[[Session], Stored]:
        def run(session: Session) -> Stored:
            if also is not None:
                also(session)
            return ingest_batch(session, batch, tagger, inbox_cache)

        return run

    try:
        return await _run_reconnecting(writes, work(items))
    except Exception as exc:
        if unavailable(exc):
            raise
        log.info(
            "ingest_batch_split",
            extra={"size": len(items), "error": str(getattr(exc, "orig", exc))[:200]},
        )
    results: list[Result] = []
    rows: list[OutboxRow] = []
    for n, item in enumerate(items):
        result: Result = RuntimeError("not stored")
        for _attempt in range(3):
            try:
                got_results, got = await _run_reconnecting(writes, work([item]))
                result = got_results[0]
                rows.extend(got)
                break
            except IntegrityError as exc:
                result = exc  # a race: the next try finds the winner's rows
            except Exception as exc:
                if unavailable(exc):  # gone meanwhile: the rest cannot be stored either
                    results += [exc] * (len(items) - n)
                    return results, rows
                result = exc
                log.warning(
                    "ingest_item_refused",
                    extra={"inbox": item.inbox_id, "channel": item.channel.value,
                           "external_id": item.external_id[:100], "error": repr(exc)[:300]},
                )  # fmt: skip
                break
        results.append(result)
    return results, rows
