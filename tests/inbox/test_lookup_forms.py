"""inbox/lookup_forms.py against the real database (SQLite, or PostgreSQL with
CROCEVIA_TEST_DATABASE_URL): a look-up by pairs, in each form, with one statement for
every batch size on PostgreSQL."""

from __future__ import annotations

import secrets

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from inbox.lookup_forms import form_for, pair_values, with_pairs
from inbox.model import Contact, Identity


def identities_among(session: Session, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    form = form_for(session, pairs)
    query = with_pairs(select(Identity.channel, Identity.external_id), Identity.channel,
                       Identity.external_id, ("channels", "ids"), form)  # fmt: skip
    rows = session.execute(query, pair_values(form, pairs, ("channels", "ids")))
    return {(channel, external_id) for channel, external_id in rows}


async def test_a_look_up_by_pairs_finds_them_in_every_form(
    database_url: str, db: async_sessionmaker[AsyncSession]
) -> None:
    tag = secrets.token_hex(4)
    a, b = f"{tag}-a", f"{tag}-b"
    statements: list[str] = []

    def work(session: Session) -> None:
        contact = Contact(name=tag, attributes={})
        session.add(contact)
        session.flush()
        for channel, external_id in (("telegram", a), ("telegram", b), ("x", a)):
            session.add(Identity(channel=channel, external_id=external_id, contact_id=contact.id))
        session.flush()
        event.listen(session.connection(), "before_cursor_execute",
                     lambda _c, _cur, sql, *_a: statements.append(sql))  # fmt: skip
        assert identities_among(session, {("x", a)}) == {("x", a)}  # one pair
        crossed = identities_among(session, {("telegram", a), ("x", b)})
        two_more = identities_among(session, {("telegram", a), ("telegram", b), ("x", a)})
        assert two_more == {("telegram", a), ("telegram", b), ("x", a)}
        if database_url.startswith("postgres"):
            assert crossed == {("telegram", a)}  # the pairs themselves, joined
            assert len(set(statements[1:])) == 1  # two sizes, one statement
        else:  # two INs: the caller keeps the exact pairs among these
            assert crossed == {("telegram", a), ("telegram", b), ("x", a)}
        session.rollback()

    async with db() as session:
        await session.run_sync(work)
