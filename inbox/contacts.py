"""One customer across channels: matching keys, suggested merges, merges and their undo.

Emails match lower-cased and trimmed; phones match in E.164 (`phonenumbers`, Italian
when a number has no country code), so "+39 333 1234567" and "3331234567" are one
number. Besides a contact's own email and phone, its email identities (the address)
and WhatsApp identities (the number) count.

A merge moves everything of the merged contact to the kept one — identities,
conversations, authorship of messages, lifecycle history, and rows of any other table
that points at contacts (signals) — marks the merged contact `merged_into_id`, and
records in a `ContactMerge` exactly which rows moved (ids only: no personal data), so
that `undo`, within UNDO_WINDOW, moves those rows and only those back (and the
customer's messages that arrived since in the conversations going back). Conversations
opened after the merge stay with the kept contact.

Open chat conversations: the database allows one open chat conversation per contact
and inbox (uq_open_chat_conversation). When both contacts have one in the same inbox,
the merged contact's is *folded* into the kept contact's: its messages move there and
it is resolved (no CSAT question is sent). Undo moves the messages back and restores
its status; the kept conversation's timers are not rewound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from sqlalchemy import ColumnElement, Table, and_, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import audit, events, lifecycle
from inbox.access import Viewer
from inbox.model import (
    Base,
    Contact,
    ContactMerge,
    Conversation,
    Identity,
    LifecycleChange,
    Message,
    Outbox,
    utcnow,
)
from inbox.serialize import conversation_dict, iso

DEFAULT_REGION = "IT"
UNDO_WINDOW = timedelta(hours=24)
MAX_SUGGESTIONS = 20
FILLED_FIELDS = ("name", "email", "phone")
#: Tables the merge moves by name; any other foreign key to contacts.id is moved generically.
_HANDLED = frozenset({"contacts", "identities", "conversations", "messages", "lifecycle_changes",
                      "contact_merges"})  # fmt: skip
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_KEY = 64
MAX_ATTRIBUTE_TEXT = 500
MAX_ATTRIBUTES_SIZE = 8 * 1024


class MergeRefused(ValueError):
    pass


class UndoRefused(ValueError):
    pass


class InvalidContactField(ValueError):
    pass


# ---- normalising ----------------------------------------------------------------------------


def normal_email(value: str | None) -> str | None:
    """Lower-cased and trimmed; None for nothing or something without an @."""
    if value is None:
        return None
    value = value.strip().lower()
    return value if "@" in value.strip("@") else None


def normal_phone(value: str | None, region: str = DEFAULT_REGION) -> str | None:
    """The number in E.164 (+393331234567), or None when it is not a valid number."""
    if not value or not value.strip():
        return None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _national(e164: str) -> str:
    return phonenumbers.national_significant_number(phonenumbers.parse(e164))


def _digits(column: Any) -> Any:
    """The column without the separators people type in phone numbers."""
    for sep in (" ", "-", ".", "(", ")", "/"):
        column = func.replace(column, sep, "")
    return column


def clean_attributes(value: object) -> dict[str, Any]:
    """A site's custom attributes: a flat object of at most MAX_ATTRIBUTES keys with
    scalar values (text up to MAX_ATTRIBUTE_TEXT characters, numbers, booleans, null to
    remove a key); raises InvalidContactField saying what is wrong."""
    if not isinstance(value, dict):
        raise InvalidContactField("attributes must be an object")
    if len(value) > MAX_ATTRIBUTES:
        raise InvalidContactField(f"attributes: at most {MAX_ATTRIBUTES} keys")
    cleaned: dict[str, Any] = {}
    for key, item in value.items():
        if (
            not key
            or len(key) > MAX_ATTRIBUTE_KEY
            or not all(c.isalnum() or c in "_-." for c in key)
        ):
            raise InvalidContactField(
                f"attributes: keys are 1 to {MAX_ATTRIBUTE_KEY} letters, digits, '_', '-' or '.'"
            )
        if isinstance(item, str) and len(item) > MAX_ATTRIBUTE_TEXT:
            raise InvalidContactField(f"attributes.{key}: at most {MAX_ATTRIBUTE_TEXT} characters")
        if isinstance(item, float) and not math.isfinite(item):
            raise InvalidContactField(f"attributes.{key}: not a finite number")
        if item is not None and not isinstance(item, str | int | float | bool):
            raise InvalidContactField(f"attributes.{key}: only text, numbers, booleans or null")
        cleaned[key] = item
    return cleaned


def merge_attributes(current: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """`given` over `current` (null removes a key), refused when the result grows too big."""
    merged = {k: v for k, v in {**current, **given}.items() if v is not None}
    if len(merged) > MAX_ATTRIBUTES or len(repr(merged)) > MAX_ATTRIBUTES_SIZE:
        raise InvalidContactField(
            f"attributes: at most {MAX_ATTRIBUTES} keys and {MAX_ATTRIBUTES_SIZE} bytes in all"
        )
    return merged


# ---- who may see which contact --------------------------------------------------------------


async def visible_ids(session: AsyncSession, viewer: Viewer, ids: set[int]) -> set[int]:
    """The contacts among `ids` that the viewer may see: admins and leads every one, an
    agent those with a conversation they may see, marketing none."""
    if not ids or not viewer.reads_conversations:
        return set()
    if viewer.sees_everything:
        found = await session.scalars(select(Contact.id).where(Contact.id.in_(ids)))
        return set(found)
    found = await session.scalars(
        select(Conversation.contact_id)
        .where(Conversation.contact_id.in_(ids))
        .where(viewer.sql_filter())
        .distinct()
    )
    return set(found)


# ---- suggestions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Keys:
    emails: frozenset[str]
    phones: frozenset[str]


def _keys(contact: Contact, identities: list[tuple[str, str]]) -> Keys:
    # An email a widget visitor typed proves nothing: it is not a key (security.md).
    emails = {normal_email(contact.email) if contact.email_verified is not False else None}
    phones = {normal_phone(contact.phone)}
    for channel, external_id in identities:
        if channel == "email":
            emails.add(normal_email(external_id))
        elif channel == "whatsapp":
            phones.add(normal_phone("+" + external_id.lstrip("+")))
    return Keys(frozenset(e for e in emails if e), frozenset(p for p in phones if p))


async def _identities_of(session: AsyncSession, ids: set[int]) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
    if ids:
        rows = await session.execute(
            select(Identity.contact_id, Identity.channel, Identity.external_id).where(
                Identity.contact_id.in_(ids)
            )
        )
        for contact_id, channel, external_id in rows.all():
            out[contact_id].append((channel, external_id))
    return out


async def _candidate_ids(session: AsyncSession, contact_id: int, keys: Keys) -> set[int]:
    """Contacts that may share a key: exact emails, phones ending in the national number
    (a cheap filter; every candidate is then checked with the normalised keys)."""
    nationals = sorted({_national(p) for p in keys.phones})
    on_contact: list[ColumnElement[bool]] = [
        and_(func.lower(func.trim(Contact.email)).in_(sorted(keys.emails)),
             or_(Contact.email_verified.is_(None), Contact.email_verified.is_(True)))
    ]  # fmt: skip
    on_contact += [_digits(Contact.phone).like(f"%{n}") for n in nationals]
    on_identity: list[ColumnElement[bool]] = [
        and_(Identity.channel == "email", func.lower(func.trim(Identity.external_id)).in_(sorted(keys.emails)))
    ]  # fmt: skip
    on_identity += [
        and_(Identity.channel == "whatsapp", Identity.external_id.like(f"%{n}")) for n in nationals
    ]
    live = and_(
        Contact.id != contact_id, Contact.merged_into_id.is_(None), Contact.erased_at.is_(None)
    )
    direct = await session.scalars(select(Contact.id).where(live, or_(*on_contact)).limit(200))
    via = await session.scalars(
        select(Contact.id)
        .join(Identity, Identity.contact_id == Contact.id)
        .where(live, or_(*on_identity))
        .limit(200)
    )
    return set(direct) | set(via)


async def suggestions(
    session: AsyncSession, contact: Contact, viewer: Viewer
) -> list[dict[str, Any]]:
    """Contacts that share an email or a phone with `contact` and that the viewer may see,
    best first (both keys before one); pairs whose merge was undone are not suggested."""
    own = await _identities_of(session, {contact.id})
    keys = _keys(contact, own[contact.id])
    if not keys.emails and not keys.phones:
        return []
    ids = await _candidate_ids(session, contact.id, keys)
    undone = await session.execute(
        select(ContactMerge.kept_contact_id, ContactMerge.merged_contact_id)
        .where(ContactMerge.undone_at.is_not(None))
        .where(or_(ContactMerge.kept_contact_id == contact.id,
                   ContactMerge.merged_contact_id == contact.id))
    )  # fmt: skip
    ids -= {a if b == contact.id else b for a, b in undone.all()}
    ids = await visible_ids(session, viewer, ids)
    if not ids:
        return []
    found = (await session.scalars(select(Contact).where(Contact.id.in_(ids)))).all()
    identities = await _identities_of(session, ids)
    out: list[dict[str, Any]] = []
    for other in found:
        theirs = _keys(other, identities[other.id])
        reasons = [name for name, mine, yours in (("email", keys.emails, theirs.emails),
                                                   ("phone", keys.phones, theirs.phones))
                   if mine & yours]  # fmt: skip
        if reasons:
            out.append({
                "contact": {"id": other.id, "name": other.name, "email": other.email,
                            "phone": other.phone, "lifecycle_stage": other.lifecycle_stage},
                "reasons": reasons,
                "channels": sorted({channel for channel, _ in identities[other.id]}),
            })  # fmt: skip
    out.sort(key=lambda s: (-len(s["reasons"]), s["contact"]["id"]))
    return out[:MAX_SUGGESTIONS]


# ---- merge and undo -------------------------------------------------------------------------


def _other_references() -> list[tuple[Table, Any, Any]]:
    """(table, foreign-key column, primary key) of every other table pointing at contacts
    with a single-column primary key of its own (tables keyed by the contact itself hold
    derived figures and are left to be recomputed)."""
    found = []
    for table in Base.metadata.sorted_tables:
        if table.name in _HANDLED or len(table.primary_key.columns) != 1:
            continue
        (pk,) = table.primary_key.columns
        for fk in table.foreign_keys:
            if fk.column.table.name == "contacts" and not fk.parent.primary_key:
                found.append((table, fk.parent, pk))
    return found


async def _move(session: AsyncSession, model: Any, column: str, ids: list[int], to: int) -> None:
    if ids:
        await session.execute(
            update(model)
            .where(model.id.in_(ids))
            .values({column: to})
            .execution_options(synchronize_session="fetch")
        )


async def _ids(session: AsyncSession, q: Any) -> list[int]:
    return sorted(int(i) for i in await session.scalars(q))


async def _lock(session: AsyncSession, *ids: int) -> dict[int, Contact]:
    rows = await session.scalars(
        select(Contact).where(Contact.id.in_(ids)).order_by(Contact.id).with_for_update()
    )
    return {c.id: c for c in rows}


def _open_chat(conv: Conversation) -> bool:
    return conv.status != "resolved" and not conv.threaded


async def _fold(
    session: AsyncSession, kept: Contact, merged: Contact, now: datetime
) -> list[dict[str, Any]]:
    """Fold the merged contact's open chat conversations into the kept contact's open one
    in the same inbox (see the module's docstring); returns what to record for undo."""
    convs = (
        await session.scalars(
            select(Conversation)
            .where(Conversation.contact_id.in_([kept.id, merged.id]))
            .where(Conversation.status != "resolved", Conversation.threaded == false())
            .with_for_update()
        )
    ).all()
    kept_open = {c.inbox_id: c for c in convs if c.contact_id == kept.id}
    folded: list[dict[str, Any]] = []
    for conv in convs:
        into = kept_open.get(conv.inbox_id)
        if conv.contact_id != merged.id or into is None:
            continue
        messages = await _ids(session, select(Message.id).where(Message.conversation_id == conv.id))
        folded.append({
            "conversation_id": conv.id, "into_id": into.id, "messages": messages,
            "status": conv.status, "waiting_since": iso(conv.waiting_since),
            "snoozed_until": iso(conv.snoozed_until), "resolved_at": iso(conv.resolved_at),
        })  # fmt: skip
        waits = [t for t in (into.waiting_since, conv.waiting_since) if t is not None]
        into.waiting_since = min(waits) if waits else None
        lasts = [t for t in (into.last_message_at, conv.last_message_at) if t is not None]
        into.last_message_at = max(lasts) if lasts else None
        conv.status, conv.resolved_at = "resolved", now
        conv.waiting_since = conv.snoozed_until = None
        await session.flush()
        if messages:
            await session.execute(
                update(Message)
                .where(Message.id.in_(messages))
                .values(conversation_id=into.id)
                .execution_options(synchronize_session="fetch")
            )
    return folded


async def _conversation_events(
    session: AsyncSession,
    ids: list[int],
    contact: Contact,
    merge: ContactMerge,
    outbox: list[Outbox],
) -> None:
    """Every conversation that changed contact is announced, so consoles refresh."""
    if not ids:
        return
    convs = await session.scalars(select(Conversation).where(Conversation.id.in_(ids)))
    note = {"id": merge.id, "kept_contact_id": merge.kept_contact_id,
            "merged_contact_id": merge.merged_contact_id, "undone": merge.undone_at is not None}  # fmt: skip
    outbox.extend(
        await events.emit_many(
            session,
            [("conversation.updated", {"conversation": conversation_dict(c, contact),
                                       "contact_merge": note}) for c in convs],
        )
    )  # fmt: skip


async def _refuse_unverified_claim(session: AsyncSession, a: Contact, b: Contact) -> None:
    """Refuse the merge a widget visitor could provoke by typing someone's email: when the
    two share that unverified address and no proven key, the merge would hand the visitor
    the other contact's history and replies. An agent who checked the address sets it on
    the contact (which verifies it) and merges then."""
    unverified = [c for c in (a, b) if c.email_verified is False and normal_email(c.email)]
    if not unverified or normal_email(a.email) != normal_email(b.email):
        return
    identities = await _identities_of(session, {a.id, b.id})
    if _keys(a, identities[a.id]).phones & _keys(b, identities[b.id]).phones:
        return  # a shared phone ties them as well
    if _keys(a, identities[a.id]).emails & _keys(b, identities[b.id]).emails:
        return  # a proven address ties them as well
    raise MergeRefused(
        f"contact {unverified[0].id}'s email was typed in the chat widget and is not verified; "
        "confirm it with the customer and save it on the contact before merging"
    )


async def merge(
    session: AsyncSession,
    kept_id: int,
    merged_id: int,
    *,
    actor_agent_id: int | None,
    now: datetime | None = None,
    outbox: list[Outbox] | None = None,
) -> ContactMerge:
    """Make `merged_id` part of `kept_id`, in the caller's transaction (see the module)."""
    now = now or utcnow()
    outbox = outbox if outbox is not None else []
    if kept_id == merged_id:
        raise MergeRefused("a contact cannot be merged into itself")
    contacts = await _lock(session, kept_id, merged_id)
    kept, merged = contacts.get(kept_id), contacts.get(merged_id)
    if kept is None or merged is None:
        raise LookupError("no such contact")
    for c in (kept, merged):
        if c.merged_into_id is not None:
            raise MergeRefused(f"contact {c.id} was merged into contact {c.merged_into_id} already")
        if c.erased_at is not None:
            raise MergeRefused(f"contact {c.id} was erased")

    await _refuse_unverified_claim(session, kept, merged)
    folded = await _fold(session, kept, merged, now)
    moved: dict[str, Any] = {
        "identities": await _ids(session, select(Identity.id).where(Identity.contact_id == merged.id)),
        "conversations": await _ids(session, select(Conversation.id).where(Conversation.contact_id == merged.id)),
        "messages": await _ids(session, select(Message.id).where(Message.author_contact_id == merged.id)),
        "lifecycle_changes": await _ids(
            session, select(LifecycleChange.id).where(LifecycleChange.contact_id == merged.id)),
        "folded": folded,
        "other": {},
    }  # fmt: skip
    await _move(session, Identity, "contact_id", moved["identities"], kept.id)
    await _move(session, Conversation, "contact_id", moved["conversations"], kept.id)
    await _move(session, Message, "author_contact_id", moved["messages"], kept.id)
    await _move(session, LifecycleChange, "contact_id", moved["lifecycle_changes"], kept.id)
    for table, column, pk in _other_references():
        ids = await _ids(session, select(pk).where(column == merged.id))
        if ids:
            await session.execute(update(table).where(pk.in_(ids)).values({column.name: kept.id}))
            moved["other"][f"{table.name}.{column.name}"] = ids

    moved["filled"] = [f for f in FILLED_FIELDS if not getattr(kept, f) and getattr(merged, f)]
    for f in moved["filled"]:
        setattr(kept, f, getattr(merged, f))
    added = {k: v for k, v in (merged.attributes or {}).items() if k not in (kept.attributes or {})}
    moved["attributes"] = sorted(added)
    if added:
        kept.attributes = {**(kept.attributes or {}), **added}
    moved["stage"] = None
    if lifecycle.RANK.get(merged.lifecycle_stage, 0) > lifecycle.RANK.get(kept.lifecycle_stage, 0):
        before = kept.lifecycle_stage
        change = await lifecycle.set_stage(session, kept, merged.lifecycle_stage, source="merge",
                                           actor_agent_id=actor_agent_id, now=now)  # fmt: skip
        if change is not None:
            moved["stage"] = {"from": before, "to": change.to_stage, "change_id": change.id}
    merged.merged_into_id = kept.id

    row = ContactMerge(kept_contact_id=kept.id, merged_contact_id=merged.id, moved=moved,
                       merged_by_agent_id=actor_agent_id, merged_at=now)  # fmt: skip
    session.add(row)
    await session.flush()
    audit.record(session, actor_agent_id, "contact.merged", "contact", kept.id, merge_id=row.id,
                 merged_contact_id=merged.id, counts=_counts(moved))  # fmt: skip
    touched = moved["conversations"] + [f["into_id"] for f in folded]
    await _conversation_events(session, touched, kept, row, outbox)
    return row


def _counts(moved: dict[str, Any]) -> dict[str, int]:
    return {k: len(moved.get(k) or []) for k in
            ("identities", "conversations", "messages", "lifecycle_changes", "folded")}  # fmt: skip


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def undo(
    session: AsyncSession,
    merge_id: int,
    *,
    actor_agent_id: int | None,
    now: datetime | None = None,
    outbox: list[Outbox] | None = None,
) -> ContactMerge:
    """Put back exactly the rows the merge moved; refused once UNDO_WINDOW has passed."""
    now = now or utcnow()
    outbox = outbox if outbox is not None else []
    row = await session.get(ContactMerge, merge_id, with_for_update=True)
    if row is None:
        raise LookupError("no such merge")
    if row.undone_at is not None:
        raise UndoRefused(f"this merge was undone already, at {iso(row.undone_at)}")
    if now - row.merged_at > UNDO_WINDOW:
        hours = int(UNDO_WINDOW.total_seconds() // 3600)
        raise UndoRefused(
            f"a merge can be undone within {hours} hours; this one was made at "
            f"{iso(row.merged_at)}. Edit the contact instead."
        )
    contacts = await _lock(session, row.kept_contact_id, row.merged_contact_id)
    kept, merged = contacts[row.kept_contact_id], contacts[row.merged_contact_id]
    if kept.erased_at is not None or merged.erased_at is not None:
        raise UndoRefused("the contact was erased since the merge")
    moved = row.moved

    async def back(model: Any, column: str, ids: list[int]) -> None:
        if ids:
            await session.execute(
                update(model)
                .where(model.id.in_(ids), getattr(model, column) == kept.id)
                .values({column: merged.id})
                .execution_options(synchronize_session="fetch")
            )

    await back(Identity, "contact_id", moved.get("identities", []))
    await back(Conversation, "contact_id", moved.get("conversations", []))
    await back(Message, "author_contact_id", moved.get("messages", []))
    if moved.get("conversations"):  # what the customer wrote since, in conversations going back
        await session.execute(
            update(Message)
            .where(Message.conversation_id.in_(moved["conversations"]))
            .where(Message.author_contact_id == kept.id, Message.direction == "in")
            .values(author_contact_id=merged.id)
            .execution_options(synchronize_session="fetch")
        )
    await back(LifecycleChange, "contact_id", moved.get("lifecycle_changes", []))
    tables = {f"{t.name}.{c.name}": (t, c, pk) for t, c, pk in _other_references()}
    for key, ids in (moved.get("other") or {}).items():
        if key in tables:
            table, column, pk = tables[key]
            await session.execute(
                update(table).where(pk.in_(ids), column == kept.id).values({column.name: merged.id})
            )
    for fold in moved.get("folded", []):
        if fold["messages"]:
            await session.execute(
                update(Message)
                .where(Message.id.in_(fold["messages"]), Message.conversation_id == fold["into_id"])
                .values(conversation_id=fold["conversation_id"])
                .execution_options(synchronize_session="fetch")
            )
        conv = await session.get_one(Conversation, fold["conversation_id"])
        conv.status, conv.resolved_at = fold["status"], _time(fold["resolved_at"])
        conv.waiting_since, conv.snoozed_until = (
            _time(fold["waiting_since"]),
            _time(fold["snoozed_until"]),
        )
    for f in moved.get("filled", []):
        if getattr(kept, f) == getattr(merged, f):
            setattr(kept, f, None)
    attributes = dict(kept.attributes or {})
    for key in moved.get("attributes", []):
        if key in attributes and attributes[key] == (merged.attributes or {}).get(key):
            del attributes[key]
    kept.attributes = attributes
    stage = moved.get("stage")
    if stage and kept.lifecycle_stage == stage["to"]:
        kept.lifecycle_stage = stage["from"]
        change = await session.get(LifecycleChange, stage["change_id"])
        if change is not None:
            await session.delete(change)
    merged.merged_into_id = None
    row.undone_at = now
    await session.flush()
    audit.record(session, actor_agent_id, "contact.merge_undone", "contact", kept.id,
                 merge_id=row.id, merged_contact_id=merged.id, counts=_counts(moved))  # fmt: skip
    await _conversation_events(session, moved.get("conversations", []), merged, row, outbox)
    into = [f["into_id"] for f in moved.get("folded", [])]
    await _conversation_events(session, into, kept, row, outbox)
    return row


def merge_dict(row: ContactMerge) -> dict[str, Any]:
    return {
        "id": row.id, "kept_contact_id": row.kept_contact_id,
        "merged_contact_id": row.merged_contact_id, "moved": row.moved,
        "merged_by_agent_id": row.merged_by_agent_id, "merged_at": iso(row.merged_at),
        "undone_at": iso(row.undone_at),
        "undo_until": iso(row.merged_at + UNDO_WINDOW) if row.undone_at is None else None,
    }  # fmt: skip
