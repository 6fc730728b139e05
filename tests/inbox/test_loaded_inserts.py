"""inbox/loaded_inserts.py against the real database (SQLite, or PostgreSQL with
CROCEVIA_TEST_DATABASE_URL): one INSERT for many new objects, which come out persistent,
clean and complete, and whose later changes the next flush writes."""

from __future__ import annotations

import secrets

from sqlalchemy import event, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from inbox.loaded_inserts import insert_loaded
from inbox.model import Contact


async def test_new_objects_are_inserted_at_once_and_attached_as_loaded(
    db: async_sessionmaker[AsyncSession],
) -> None:
    tag = secrets.token_hex(4)
    statements: list[str] = []

    def work(session: Session) -> list[int]:
        event.listen(
            session.connection(),
            "before_cursor_execute",
            lambda _c, _cur, sql, *_a: statements.append(sql),
        )
        made = [Contact(name=f"{tag}-{n}", phone=None) for n in range(3)]
        insert_loaded(session, made)
        inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
        assert len(inserts) == 1  # one statement for the three
        for contact in made:
            state = inspect(contact)
            assert state.persistent and not state.modified and not state.expired_attributes
            assert contact.id is not None
            assert contact.lifecycle_stage == "lead"  # the column's Python default
            assert contact.attributes == {} and contact.created_at is not None
        assert not session.dirty and not session.new
        made[1].name = f"{tag}-renamed"  # a later change: an UPDATE at the next flush
        session.flush()
        return [c.id for c in made]

    async with db() as session, session.begin():
        ids = await session.run_sync(work)
    assert len(set(ids)) == 3
    async with db() as session:
        rows = (
            await session.execute(select(Contact).where(Contact.id.in_(ids)).order_by(Contact.id))
        ).scalars()
        assert [(c.name, c.lifecycle_stage) for c in rows] == [
            (f"{tag}-0", "lead"), (f"{tag}-renamed", "lead"), (f"{tag}-2", "lead"),
        ]  # fmt: skip
