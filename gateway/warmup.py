"""The first customer message a gateway stores pays for nothing the later ones find ready.

A fresh process compiles each of the intake's statements on first use, configures the
ORM's mappers, loads the tagger's lexicons and reads the database schema: measured
with bench/e2e.py (SQLite), its first transaction took 77 ms for one message where the
following ones took 4-8 ms, and as the group commit runs one transaction at a time,
every message that arrived meanwhile waited behind it.

So before the gateway serves, `warm_up` runs the intake's transaction once (a new
visitor's first message: a contact, its identity and a conversation made) on made-up
rows, in one transaction that it rolls back: nothing is stored, and nothing is
published (events leave the outbox only after a commit). On PostgreSQL the made-up rows
use up one value of a few id sequences per start: ids are never reused, and a gap is
harmless (no code or test may assume that an id exists).
"""

from __future__ import annotations

import logging
import secrets

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from connectors.website import WebsiteConnector
from inbox.ingest import Tagger, ingest_batch
from inbox.model import Inbox
from inbox.writes import Writes

log = logging.getLogger("crocevia.warmup")

TEXT = "Buonasera, il mio ordine non è ancora arrivato: potete aiutarmi? Grazie"


class _RollBack(Exception):
    """Raised at the end of the made-up transaction, so that it is rolled back."""


async def warm_up(writes: Writes, tagger: Tagger | None) -> None:
    tag = secrets.token_hex(8)

    def store_one(session: Session) -> None:
        inbox = Inbox(name="warm-up", channel="website",
                      website_token=secrets.token_urlsafe(16), settings={})  # fmt: skip
        session.add(inbox)
        session.flush()
        item = WebsiteConnector().parse_frame(inbox.id, tag, "warm-up", TEXT)
        ingest_batch(session, [item], tagger)
        raise _RollBack

    try:
        await writes.run(store_one)
    except _RollBack:
        pass
    except SQLAlchemyError as exc:  # the database is slow to come: serve all the same
        log.warning("warm_up_failed", extra={"error": repr(exc)})
