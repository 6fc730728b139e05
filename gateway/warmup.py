"""The first customer message a gateway stores pays for nothing the later ones find ready.

A fresh process compiles each of the intake's statements on first use, configures the
ORM's mappers, loads the tagger's lexicons and reads the database schema: measured
with bench/e2e.py (SQLite), its first transaction took 77 ms for one message where the
following ones took 4-8 ms, and as the group commit runs one transaction at a time,
every message that arrived meanwhile waited behind it.

So before the gateway serves, `warm_up` runs the intake's work on made-up rows, in one
transaction that it rolls back: nothing is stored, and nothing is published (events
leave the outbox only after a commit). It stores batches of every size up to
`BURST` twice: new visitors' first messages (a contact, its identity and a conversation
made), then a second message from each. A burst of visitors right after a start (a
deploy: every open widget reconnects) comes in batches of such sizes, and each size's
statements are new to a fresh process: on PostgreSQL, each new statement is also
prepared on the connection (a round trip). Measured with bench/e2e.py on PostgreSQL,
the first batches took 10-25 ms each in the gateway, where the later ones took 4-6 ms.
On PostgreSQL the made-up rows use up a few values of the id sequences per start: ids
are never reused, and a gap is harmless (no code or test may assume that an id exists).
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
BURST = 16  # the largest batch warmed up


class _RollBack(Exception):
    """Raised at the end of the made-up transaction, so that it is rolled back."""


async def warm_up(writes: Writes, tagger: Tagger | None) -> None:
    tag = secrets.token_hex(8)

    def store_bursts(session: Session) -> None:
        inbox = Inbox(name="warm-up", channel="website",
                      website_token=secrets.token_urlsafe(16), settings={})  # fmt: skip
        session.add(inbox)
        session.flush()
        website = WebsiteConnector()
        for size in range(1, BURST + 1):
            visitors = [f"{tag}-{size}-{n}" for n in range(size)]
            for round_ in ("first", "again"):
                items = [website.parse_frame(inbox.id, v, round_, TEXT) for v in visitors]
                ingest_batch(session, items, tagger)
        raise _RollBack

    try:
        await writes.run(store_bursts)
    except _RollBack:
        pass
    except SQLAlchemyError as exc:  # the database is slow to come: serve all the same
        log.warning("warm_up_failed", extra={"error": repr(exc)})
